import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { requireRole, type CurrentUser } from '../auth/index.ts';
import type { AppContext } from '../context.ts';
import { AppError } from '../errors.ts';
import type { SafeHtml } from '../web/html.ts';
import { chartTables, dashboardPage } from './pages.ts';
import type { DashboardService } from './service.ts';

const styles = readFileSync(new URL('./assets/dashboard.css', import.meta.url));

export interface DashboardPluginOptions {
  ctx: AppContext;
  dashboard: DashboardService;
}

function csvCell(value: string | number): string {
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The admin home page: the organisation dashboard (the auth plugin's GET /admin calls this). */
export async function renderDashboardHome(
  ctx: AppContext,
  dashboard: DashboardService,
  user: CurrentUser,
  sections: readonly { href: string; label: string; text: string }[],
): Promise<SafeHtml> {
  return dashboardPage({
    user,
    orgName: ctx.config.orgName,
    dashboard: await dashboard.getDashboard(),
    sections,
  });
}

/** The dashboard's stylesheet and one CSV download per chart. */
export async function dashboardPlugin(
  instance: FastifyInstance,
  options: DashboardPluginOptions,
): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/admin/dashboard/dashboard.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(styles),
  );
  app.get(
    '/admin/dashboard/:file',
    {
      preHandler: requireRole('viewer'),
      schema: { params: Type.Object({ file: Type.String({ maxLength: 40 }) }) },
    },
    async (request, reply) => {
      const match = /^([a-z]+)\.csv$/.exec(request.params.file);
      const tables = chartTables(await options.dashboard.getDashboard());
      const table = match ? tables[match[1]!] : undefined;
      if (!match || !table) throw new AppError('not_found', 'There is no such chart.');
      const body =
        [table.columns, ...table.rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
      const stamp = new Date().toISOString().slice(0, 10);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${match[1]}-${stamp}.csv"`)
        .send(body);
    },
  );
}

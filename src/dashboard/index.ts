export {
  createDashboardService,
  type DashboardService,
  type Dashboard,
  type GroupCounts,
} from './service.ts';
export { dashboardPlugin, renderDashboardHome } from './routes.ts';

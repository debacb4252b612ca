import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Logger } from '../../log.ts';
import type { MailingsService } from '../mailings/service.ts';
import { parseVerpLocalPart } from '../tracking/tokens.ts';
import { dsnReport, parseDsn } from './formats.ts';

const maxMessageBytes = 2 * 1024 * 1024;

export interface InboundListener {
  port: number;
  close(): Promise<void>;
}

/**
 * An optional SMTP listener for the return path: bounce reports (DSNs) sent to "b-…@bounce-domain"
 * and unsubscribe emails sent to the List-Unsubscribe mailto "u-…@bounce-domain". Anything else is
 * refused at RCPT, so it is no open relay.
 */
export async function startInboundListener(
  mailings: MailingsService,
  log: Logger,
  options: { port: number; host?: string },
): Promise<InboundListener> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    size: maxMessageBytes,
    onRcptTo(address, _session, callback) {
      const local = address.address.split('@')[0] ?? '';
      if (!parseVerpLocalPart(mailings.tokens, local)) {
        callback(Object.assign(new Error('5.1.1 No such mailbox here'), { responseCode: 550 }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxMessageBytes) chunks.push(chunk);
      });
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        handleInbound(
          mailings,
          log,
          session.envelope.rcptTo.map((r) => r.address),
          raw,
        ).then(
          () => callback(),
          (error: unknown) => {
            log.warn({ err: error }, 'could not process an inbound bounce message');
            callback();
          },
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '0.0.0.0', resolve));
  const port = (server.server.address() as AddressInfo).port;
  log.info({ port }, 'inbound SMTP listener for bounces started');
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export async function handleInbound(
  mailings: MailingsService,
  log: Logger,
  recipients: string[],
  raw: Buffer,
): Promise<void> {
  for (const rcpt of recipients) {
    const verp = parseVerpLocalPart(mailings.tokens, rcpt.split('@')[0] ?? '');
    if (!verp) continue;
    if (verp.prefix === 'u') {
      await mailings.unsubscribeFromVerp(verp.mailingId, verp.personId, 'mailto');
      continue;
    }
    const dsn = await parseDsn(raw);
    if (!dsn) {
      log.info({ mailingId: verp.mailingId }, 'inbound message to a return path is not a DSN; ignored');
      continue;
    }
    for (const recipient of dsn.recipients) {
      const report = dsnReport(recipient);
      if (!report) continue;
      // The VERP address names the recipient for sure; the DSN's own address may be rewritten.
      await mailings.recordDeliveryReport({
        ...report,
        mailingId: verp.mailingId,
        personId: verp.personId,
        email: null,
      });
    }
  }
}

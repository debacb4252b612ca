import { simpleParser } from 'mailparser';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMessage {
  envelopeFrom: string;
  envelopeTo: string[];
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  headers: Map<string, unknown>;
  attachments: { filename: string | undefined; contentType: string; content: Buffer }[];
  raw: string;
}

export interface SmtpSink {
  url: string;
  port: number;
  messages: ReceivedMessage[];
  /** Resolves with the first message (already received or arriving later) that matches. */
  waitFor(predicate: (message: ReceivedMessage) => boolean, timeoutMs?: number): Promise<ReceivedMessage>;
  /** Makes the next RCPT TO answers fail with this SMTP code and text (e.g. 550 for a hard bounce). */
  rejectRecipients(rule: ((address: string) => { code: number; message: string } | null) | null): void;
  close(): Promise<void>;
}

/** A real SMTP server on a random loopback port that keeps every message it accepts, parsed. */
export async function startSmtpSink(
  options: {
    port?: number;
    /** How long close() lets open sessions finish before it answers them 421 and hangs up (30 s). */
    closeTimeoutMs?: number;
    /** Answer 250 this long after a message was received and kept (messages in flight). */
    replyDelayMs?: number;
  } = {},
): Promise<SmtpSink> {
  const messages: ReceivedMessage[] = [];
  const waiters: { predicate: (m: ReceivedMessage) => boolean; resolve: (m: ReceivedMessage) => void }[] = [];
  let recipientRule: ((address: string) => { code: number; message: string } | null) | null = null;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...(options.closeTimeoutMs !== undefined ? { closeTimeout: options.closeTimeoutMs } : {}),
    onRcptTo(address, _session, callback) {
      const rejection = recipientRule?.(address.address);
      if (rejection) {
        const error = Object.assign(new Error(rejection.message), { responseCode: rejection.code });
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            const message: ReceivedMessage = {
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              to: Array.isArray(parsed.to)
                ? parsed.to.map((a) => a.text).join(', ')
                : (parsed.to?.text ?? ''),
              from: parsed.from?.text ?? '',
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              headers: parsed.headers as Map<string, unknown>,
              attachments: parsed.attachments.map((a) => ({
                filename: a.filename,
                contentType: a.contentType,
                content: a.content,
              })),
              raw,
            };
            messages.push(message);
            for (const waiter of [...waiters]) {
              if (waiter.predicate(message)) {
                waiters.splice(waiters.indexOf(waiter), 1);
                waiter.resolve(message);
              }
            }
            // Kept, and answered a little later: the sender does not yet know it was accepted.
            if (options.replyDelayMs) setTimeout(() => callback(), options.replyDelayMs);
            else callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  // A client that dies mid-session (a killed sender) resets its connection: not the test's failure.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    waitFor(predicate, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) {
            waiters.splice(index, 1);
            reject(
              new Error(`no matching email arrived within ${timeoutMs} ms (${messages.length} received)`),
            );
          }
        }, timeoutMs).unref();
      });
    },
    rejectRecipients(rule) {
      recipientRule = rule;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

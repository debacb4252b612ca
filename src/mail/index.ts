export {
  createMailService,
  isPermanentSmtpError,
  TRANSACTIONAL_PRIORITY,
  type MailService,
  type TransactionalEmail,
} from './service.ts';
export {
  createMailTransport,
  type MailTransport,
  type OutgoingMessage,
  type SendResult,
} from './transport.ts';

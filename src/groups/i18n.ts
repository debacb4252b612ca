import type { PublicLanguage } from '../web/language.ts';

/* The public group page in English and Spanish (the petitions' catalog style). */

const en = {
  partOf: 'Part of',
  petitions: 'Petitions',
  noPetitions: 'No open petitions right now.',
  upcomingEvents: 'Upcoming events',
  noEvents: 'No upcoming events yet.',
  localGroups: 'Local groups',
  join: (name: string) => `Join ${name}`,
  joinButton: 'Join',
  subscribe: "Email me about this group's actions and events",
  welcome: (name: string) => `Welcome to ${name}! You are now a member.`,
  errors: {
    email: 'Please enter a valid email address.',
    rateIp: (wait: string) =>
      `Too many people joined from your network in a short time. Please try again in ${wait}.`,
    rateEmail: (wait: string) => `Too many attempts with this email address. Please try again in ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'a minute' : `${n} minutes`),
  },
};

type GroupMessages = typeof en;

const es: GroupMessages = {
  partOf: 'Parte de',
  petitions: 'Peticiones',
  noPetitions: 'No hay peticiones abiertas ahora mismo.',
  upcomingEvents: 'Próximos eventos',
  noEvents: 'Todavía no hay próximos eventos.',
  localGroups: 'Grupos locales',
  join: (name: string) => `Únete a ${name}`,
  joinButton: 'Unirme',
  subscribe: 'Quiero recibir correos sobre las acciones y eventos de este grupo',
  welcome: (name: string) => `¡Te damos la bienvenida a ${name}! Ya formas parte del grupo.`,
  errors: {
    email: 'Escribe una dirección de correo válida.',
    rateIp: (wait: string) =>
      `Demasiadas personas se unieron desde tu red en poco tiempo. Inténtalo de nuevo en ${wait}.`,
    rateEmail: (wait: string) => `Demasiados intentos con este correo. Inténtalo de nuevo en ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'un minuto' : `${n} minutos`),
  },
};

export function groupMessages(language: PublicLanguage | string | null | undefined): GroupMessages {
  return language === 'es' ? es : en;
}

import type { PublicLanguage } from '../web/language.ts';

/* The public event pages in English and Spanish (the petitions' catalog style). */

const en = {
  when: 'When',
  where: 'Where',
  online: 'Online',
  addToCalendar: 'Add to my calendar (.ics)',
  cancelled: 'This event was cancelled.',
  over: 'This event is over.',
  rsvp: 'RSVP',
  joinWaitlist: 'Join the waitlist',
  going: (n: number) => `${n} going.`,
  full: 'This event is full: you can join the waitlist.',
  placesLeft: (left: number, capacity: number) => `${left} of ${capacity} places left.`,
  subscribe: 'Email me about future actions and events',
  done: {
    going: ["You're going!", 'We sent you an email with the details and a calendar file.'],
    waitlist: [
      "You're on the waitlist",
      'The event is full. If a place opens up you will get it in order of sign-up, and we will email you.',
    ],
    already_going: ["You're already going", 'You had already RSVPed to this event; nothing changed.'],
    already_waitlist: [
      "You're already on the waitlist",
      'You are already on the waitlist for this event; nothing changed.',
    ],
  } as Record<'going' | 'waitlist' | 'already_going' | 'already_waitlist', [string, string]>,
  backTo: (title: string) => `Back to ${title}`,
  cancelTitle: 'Cancel RSVP',
  cancelledRsvp: 'Your RSVP is cancelled. Thank you for letting us know.',
  rsvpAgain: 'RSVP again',
  youAre: (going: boolean): string =>
    going ? 'You are going to this event as' : 'You are on the waitlist for this event as',
  cancelButton: 'Cancel my RSVP',
  tooMany: 'Too many attempts',
  errors: {
    email: 'Please enter a valid email address.',
    eventCancelled: 'This event was cancelled.',
    eventOver: 'This event is over.',
    rateIp: (wait: string) =>
      `Too many RSVPs from your network in a short time. Please try again in ${wait}.`,
    rateEmail: (wait: string) => `Too many attempts with this email address. Please try again in ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'a minute' : `${n} minutes`),
  },
};

type EventMessages = typeof en;

const es: EventMessages = {
  when: 'Cuándo',
  where: 'Dónde',
  online: 'En línea',
  addToCalendar: 'Añadir a mi calendario (.ics)',
  cancelled: 'Este evento se canceló.',
  over: 'Este evento ya terminó.',
  rsvp: 'Confirmar asistencia',
  joinWaitlist: 'Apuntarme a la lista de espera',
  going: (n: number) => (n === 1 ? '1 persona asistirá.' : `${n} personas asistirán.`),
  full: 'Este evento está completo: puedes apuntarte a la lista de espera.',
  placesLeft: (left: number, capacity: number) => `Quedan ${left} de ${capacity} plazas.`,
  subscribe: 'Quiero recibir correos sobre próximas acciones y eventos',
  done: {
    going: ['¡Asistirás!', 'Te enviamos un correo con los detalles y un archivo de calendario.'],
    waitlist: [
      'Estás en la lista de espera',
      'El evento está completo. Si se libera una plaza, se dará por orden de inscripción y te escribiremos.',
    ],
    already_going: ['Ya tenías plaza', 'Ya habías confirmado tu asistencia a este evento; no cambió nada.'],
    already_waitlist: [
      'Ya estás en la lista de espera',
      'Ya estabas en la lista de espera de este evento; no cambió nada.',
    ],
  },
  backTo: (title: string) => `Volver a ${title}`,
  cancelTitle: 'Cancelar asistencia',
  cancelledRsvp: 'Tu asistencia está cancelada. Gracias por avisarnos.',
  rsvpAgain: 'Volver a confirmar asistencia',
  youAre: (going: boolean) =>
    going ? 'Asistirás a este evento como' : 'Estás en la lista de espera de este evento como',
  cancelButton: 'Cancelar mi asistencia',
  tooMany: 'Demasiados intentos',
  errors: {
    email: 'Escribe una dirección de correo válida.',
    eventCancelled: 'Este evento se canceló.',
    eventOver: 'Este evento ya terminó.',
    rateIp: (wait: string) =>
      `Demasiadas confirmaciones desde tu red en poco tiempo. Inténtalo de nuevo en ${wait}.`,
    rateEmail: (wait: string) => `Demasiados intentos con este correo. Inténtalo de nuevo en ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'un minuto' : `${n} minutos`),
  },
};

export function eventMessages(language: PublicLanguage | string | null | undefined): EventMessages {
  return language === 'es' ? es : en;
}

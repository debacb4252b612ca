/** Public petition pages are offered in these languages. */
export const languages = ['en', 'es'] as const;
export type Language = (typeof languages)[number];

export function pickLanguage(value: string | undefined | null, fallback: Language = 'en'): Language {
  const primary = (value ?? '').slice(0, 2).toLowerCase();
  return (languages as readonly string[]).includes(primary) ? (primary as Language) : fallback;
}

const en = {
  signHeading: 'Sign the petition',
  givenName: 'First name',
  familyName: 'Last name',
  email: 'Email',
  postalCode: 'Postal code',
  city: 'City',
  phone: 'Phone',
  optional: '(optional)',
  comment: 'Why are you signing? (optional, may be shown publicly)',
  consent: 'Keep me updated by email about this and related campaigns.',
  sign: 'Sign',
  honeypot: 'Leave this field empty',
  signatures: 'signatures',
  signaturesOf: 'signatures of',
  goalLabel: 'Progress toward the goal',
  targets: 'Decision-makers',
  bill: 'Bill',
  closed: 'This petition is closed and no longer accepts signatures.',
  draft: 'This petition is not published yet.',
  whySigned: 'Why people signed',
  thanksHeading: 'Thank you for signing!',
  pendingHeading: 'Almost done: please confirm your signature',
  pendingText: 'We sent you an email with a link. Your signature counts once you open it.',
  alreadyHeading: 'You already signed this petition',
  alreadyText: 'Your signature was already recorded, so nothing changed. Thank you!',
  shareHeading: 'Share the petition',
  shareText: 'Each person who signs through your link is credited to you.',
  copyLink: 'Copy link',
  copied: 'Link copied',
  shareEmail: 'Email',
  shareLinkLabel: 'Your share link',
  confirmedHeading: 'Your signature is confirmed',
  confirmedText: 'Thank you! Your signature now counts toward the goal.',
  alreadyConfirmed: 'Your signature was already confirmed. Thank you!',
  backToPetition: 'Back to the petition',
  confirmHeading: 'Confirm your signature',
  confirmText: 'One last step: press the button to confirm that you signed.',
  confirmButton: 'Confirm my signature',
  confirmSubject: (title: string) => `Please confirm your signature: ${title}`,
  confirmBody: (name: string, title: string, link: string) =>
    `Hello ${name},\n\nThank you for signing "${title}". Please confirm your signature by opening this link:\n\n${link}\n\nIf you did not sign, ignore this email and nothing will happen.\n`,
  requiredField: 'required',
  needsJs: 'If JavaScript is off, we will ask you to confirm by email.',
  language: 'Language',
  embedSign: 'Sign this petition',
  errors: {
    email: 'Please enter a valid email address.',
    givenName: 'Please enter your first name.',
    required: (label: string) => `${label} is required.`,
    phone: 'Please enter a valid phone number.',
    answer: (question: string) => `Please answer: ${question}`,
    honeypot: 'Your signature could not be accepted. Please try again without autofill.',
    rateIp: (wait: string) =>
      `Too many signatures from your network in a short time. Please try again in ${wait}.`,
    rateEmail: (wait: string) => `Too many attempts with this email address. Please try again in ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'a minute' : `${n} minutes`),
    altchaMissing: 'Please turn on JavaScript to sign: it proves you are not a robot.',
    altchaInvalid: 'The anti-robot check failed or expired. Please reload the page and sign again.',
  },
};

type Messages = typeof en;

const es: Messages = {
  signHeading: 'Firma la petición',
  givenName: 'Nombre',
  familyName: 'Apellido',
  email: 'Correo electrónico',
  postalCode: 'Código postal',
  city: 'Ciudad',
  phone: 'Teléfono',
  optional: '(opcional)',
  comment: '¿Por qué firmas? (opcional, puede mostrarse públicamente)',
  consent: 'Quiero recibir novedades por correo sobre esta y otras campañas.',
  sign: 'Firmar',
  honeypot: 'Deja este campo vacío',
  signatures: 'firmas',
  signaturesOf: 'firmas de',
  goalLabel: 'Progreso hacia la meta',
  targets: 'Destinatarios',
  bill: 'Proyecto de ley',
  closed: 'Esta petición está cerrada y ya no acepta firmas.',
  draft: 'Esta petición aún no está publicada.',
  whySigned: 'Por qué firmaron',
  thanksHeading: '¡Gracias por firmar!',
  pendingHeading: 'Casi listo: confirma tu firma',
  pendingText: 'Te enviamos un correo con un enlace. Tu firma cuenta cuando lo abras.',
  alreadyHeading: 'Ya firmaste esta petición',
  alreadyText: 'Tu firma ya estaba registrada, así que no cambió nada. ¡Gracias!',
  shareHeading: 'Comparte la petición',
  shareText: 'Cada persona que firme con tu enlace se te acredita.',
  copyLink: 'Copiar enlace',
  copied: 'Enlace copiado',
  shareEmail: 'Correo',
  shareLinkLabel: 'Tu enlace para compartir',
  confirmedHeading: 'Tu firma está confirmada',
  confirmedText: '¡Gracias! Tu firma ya cuenta para la meta.',
  alreadyConfirmed: 'Tu firma ya estaba confirmada. ¡Gracias!',
  backToPetition: 'Volver a la petición',
  confirmHeading: 'Confirma tu firma',
  confirmText: 'Un último paso: pulsa el botón para confirmar que firmaste.',
  confirmButton: 'Confirmar mi firma',
  confirmSubject: (title: string) => `Confirma tu firma: ${title}`,
  confirmBody: (name: string, title: string, link: string) =>
    `Hola ${name}:\n\nGracias por firmar «${title}». Confirma tu firma abriendo este enlace:\n\n${link}\n\nSi no firmaste, ignora este correo y no pasará nada.\n`,
  requiredField: 'obligatorio',
  needsJs: 'Si JavaScript está desactivado, te pediremos confirmar por correo.',
  language: 'Idioma',
  embedSign: 'Firma esta petición',
  errors: {
    email: 'Escribe una dirección de correo válida.',
    givenName: 'Escribe tu nombre.',
    required: (label: string) => `${label}: este dato es obligatorio.`,
    phone: 'Escribe un número de teléfono válido.',
    answer: (question: string) => `Responde, por favor: ${question}`,
    honeypot: 'No pudimos aceptar tu firma. Inténtalo de nuevo sin autocompletar.',
    rateIp: (wait: string) => `Demasiadas firmas desde tu red en poco tiempo. Inténtalo de nuevo en ${wait}.`,
    rateEmail: (wait: string) => `Demasiados intentos con este correo. Inténtalo de nuevo en ${wait}.`,
    minutes: (n: number) => (n <= 1 ? 'un minuto' : `${n} minutos`),
    altchaMissing: 'Activa JavaScript para firmar: así comprobamos que no eres un robot.',
    altchaInvalid: 'La comprobación anti-robots falló o caducó. Recarga la página y firma de nuevo.',
  },
};

export function messages(language: Language): Messages {
  return language === 'es' ? es : en;
}

export function formatNumber(value: number, language: Language): string {
  return new Intl.NumberFormat(language === 'es' ? 'es' : 'en').format(value);
}

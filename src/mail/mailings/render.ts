import { marked } from 'marked';
import { escapeHtml } from '../../web/html.ts';
import type { MailTokens } from '../tracking/tokens.ts';
import {
  fillTemplate,
  parseTemplate,
  tagValue,
  type MergeTag,
  type MergeValues,
  type TemplatePart,
} from './merge-tags.ts';

/** What rendering needs to know about a mailing (a row, or a draft being previewed). */
export interface RenderableMailing {
  id: string;
  subject: string;
  subject_b: string | null;
  preheader: string | null;
  body: string;
  format: string;
  layout: string;
  tracking: number;
}

export interface RenderSettings {
  publicUrl: string;
  orgName: string;
  orgPostalAddress: string;
  tokens: MailTokens;
  /** Public address of the mailing's petition, when it has one. */
  petitionUrl: string | null;
}

export interface RecipientFields {
  personId: string;
  email: string;
  variant: string;
  givenName?: string | null;
  familyName?: string | null;
  postalCode?: string | null;
  locality?: string | null;
}

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string;
  unsubscribeUrl: string;
}

type Segment =
  | { kind: 'text'; value: string }
  | { kind: 'tag'; tag: MergeTag }
  | { kind: 'link'; parts: TemplatePart[]; track: boolean }
  | { kind: 'pixel' };

const placeholder = (i: number) => `QQMERGETAG${i}QQ`;

/** Organiser Markdown → HTML with merge tags kept intact. */
function markdownToHtml(source: string): string {
  const tags: string[] = [];
  const protectedText = source.replace(/\{\{[\s\S]*?\}\}/g, (tag) => placeholder(tags.push(tag) - 1));
  const rendered = marked.parse(protectedText, { async: false, gfm: true, breaks: false });
  return rendered.replace(/QQMERGETAG(\d+)QQ/g, (_m, i: string) => tags[Number(i)] ?? '');
}

function decodeAttribute(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function layoutHtml(layout: string, settings: RenderSettings, preheader: string, body: string): string {
  const footer = `<p style="font-size:12px;line-height:1.5;color:#555555;margin:16px 0 0">${escapeHtml(settings.orgName)}${
    settings.orgPostalAddress ? ` · ${escapeHtml(settings.orgPostalAddress)}` : ''
  }<br><a href="{{ preferences_url }}" style="color:#555555">Email preferences</a> · <a href="{{ unsubscribe_url }}" style="color:#555555">Unsubscribe</a></p>`;
  const hidden = preheader
    ? `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">${preheader}</div>`
    : '';
  if (layout === 'plain') {
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>${hidden}${body}${footer}QQPIXELQQ</body></html>`;
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head><body style="margin:0;padding:0;background:#f2f2f2">${hidden}<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f2f2f2"><tr><td align="center" style="padding:24px 8px"><table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff"><tr><td style="padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a">${body}</td></tr></table>${footer}</td></tr></table>QQPIXELQQ</body></html>`;
}

function htmlSegments(markup: string): Segment[] {
  const segments: Segment[] = [];
  const pushText = (text: string) => {
    const pixelParts = text.split('QQPIXELQQ');
    pixelParts.forEach((chunk, i) => {
      if (i > 0) segments.push({ kind: 'pixel' });
      for (const part of parseTemplate(chunk)) {
        segments.push(typeof part === 'string' ? { kind: 'text', value: part } : { kind: 'tag', tag: part });
      }
    });
  };
  const hrefPattern = /(<a\b[^>]*?\bhref=")([^"]*)(")/gi;
  let last = 0;
  for (const match of markup.matchAll(hrefPattern)) {
    pushText(markup.slice(last, match.index) + match[1]);
    const url = decodeAttribute(match[2]!);
    const parts = parseTemplate(url);
    const own = parts.some(
      (p) => typeof p !== 'string' && (p.field === 'unsubscribe_url' || p.field === 'preferences_url'),
    );
    const trackable = /^\s*(https?:|\{\{)/i.test(url) && !own;
    segments.push({ kind: 'link', parts, track: trackable });
    last = match.index + match[1]!.length + match[2]!.length;
  }
  pushText(markup.slice(last));
  // Merge adjacent text segments so rendering is a short join.
  const merged: Segment[] = [];
  for (const segment of segments) {
    const previous = merged[merged.length - 1];
    if (segment.kind === 'text' && previous?.kind === 'text') previous.value += segment.value;
    else merged.push(segment);
  }
  return merged;
}

function htmlToText(markup: string): string {
  return decodeAttribute(
    markup
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, '')
      .replace(/<a\b[^>]*?href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, (_m, href: string, label: string) =>
        label.replace(/<[^>]+>/g, '').trim() === href ? href : `${label} (${href})`,
      )
      .replace(/<br\s*\/?>/gi, '\n')
      .replace(/<\/(p|div|h[1-6]|li|tr|table)>/gi, '\n\n')
      .replace(/<li[^>]*>/gi, '- ')
      .replace(/<[^>]+>/g, '')
      .replace(/&nbsp;/g, ' '),
  )
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function markdownToText(source: string): string {
  return source.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label: string, href: string) =>
    label === href ? href : `${label} (${href})`,
  );
}

/** A mailing parsed once; `render` fills it for one recipient (a few string joins and HMACs). */
export class CompiledMailing {
  private readonly mailing: RenderableMailing;
  private readonly settings: RenderSettings;
  private readonly subjectA: TemplatePart[];
  private readonly subjectB: TemplatePart[] | null;
  private readonly segments: Segment[];
  private readonly textParts: TemplatePart[];
  private readonly tracking: boolean;

  constructor(mailing: RenderableMailing, settings: RenderSettings) {
    this.mailing = mailing;
    this.settings = settings;
    this.tracking = mailing.tracking === 1;
    this.subjectA = parseTemplate(mailing.subject);
    this.subjectB = mailing.subject_b ? parseTemplate(mailing.subject_b) : null;
    const bodyHtml = mailing.format === 'html' ? mailing.body : markdownToHtml(mailing.body);
    const preheader = mailing.preheader ? escapeHtml(mailing.preheader) : '';
    this.segments = htmlSegments(layoutHtml(mailing.layout, settings, preheader, bodyHtml));
    const bodyText = mailing.format === 'html' ? htmlToText(mailing.body) : markdownToText(mailing.body);
    const footer = `\n\n-- \n${settings.orgName}${settings.orgPostalAddress ? `, ${settings.orgPostalAddress}` : ''}\nEmail preferences: {{ preferences_url }}\nUnsubscribe: {{ unsubscribe_url }}\n`;
    this.textParts = parseTemplate(bodyText + footer);
  }

  unsubscribeUrl(personId: string): string {
    const sig = this.settings.tokens.sign('unsubscribe', this.mailing.id, personId);
    return `${this.settings.publicUrl}/m/u/${this.mailing.id}/${personId}/${sig}`;
  }

  petitionLink(personId: string): string | null {
    const base = this.settings.petitionUrl;
    if (!base) return null;
    const code = `m.${this.mailing.id}.${personId}`;
    return `${base}${base.includes('?') ? '&' : '?'}source=${encodeURIComponent(code)}`;
  }

  private clickUrl(personId: string, url: string): string {
    const sig = this.settings.tokens.sign('click', this.mailing.id, personId, url);
    return `${this.settings.publicUrl}/m/c/${this.mailing.id}/${personId}/${sig}?u=${encodeURIComponent(url)}`;
  }

  private pixel(personId: string): string {
    const sig = this.settings.tokens.sign('open', this.mailing.id, personId);
    return `<img src="${this.settings.publicUrl}/m/o/${this.mailing.id}/${personId}/${sig}.gif" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`;
  }

  values(recipient: RecipientFields): MergeValues {
    const unsubscribe = this.unsubscribeUrl(recipient.personId);
    const given = recipient.givenName ?? null;
    const family = recipient.familyName ?? null;
    return {
      given_name: given,
      family_name: family,
      full_name: [given, family].filter(Boolean).join(' ') || null,
      email: recipient.email,
      postal_code: recipient.postalCode ?? null,
      locality: recipient.locality ?? null,
      petition_link: this.petitionLink(recipient.personId),
      unsubscribe_url: unsubscribe,
      preferences_url: unsubscribe,
      org_name: this.settings.orgName,
      org_address: this.settings.orgPostalAddress,
    };
  }

  render(recipient: RecipientFields): RenderedMessage {
    const values = this.values(recipient);
    const subjectParts = recipient.variant === 'B' && this.subjectB ? this.subjectB : this.subjectA;
    let html = '';
    for (const segment of this.segments) {
      switch (segment.kind) {
        case 'text':
          html += segment.value;
          break;
        case 'tag':
          html += escapeHtml(tagValue(segment.tag, values));
          break;
        case 'link': {
          const url = fillTemplate(segment.parts, values).trim();
          html += escapeHtml(
            this.tracking && segment.track && url ? this.clickUrl(recipient.personId, url) : url,
          );
          break;
        }
        case 'pixel':
          if (this.tracking) html += this.pixel(recipient.personId);
          break;
      }
    }
    return {
      subject: fillTemplate(subjectParts, values).replace(/[\r\n]+/g, ' '),
      html,
      text: fillTemplate(this.textParts, values),
      unsubscribeUrl: values.unsubscribe_url!,
    };
  }
}

import { renderSVG } from 'uqr';
import { raw, type SafeHtml } from '../web/html.ts';

/** A QR code drawn on the server as SVG (shapes only, from the encoded bits: nothing of the text is markup). */
export function qrCodeSvg(text: string, label: string): SafeHtml {
  const svg = renderSVG(text, { border: 2 });
  const safeLabel = label.replace(/[&<>"']/g, '');
  return raw(svg.replace('<svg ', `<svg width="220" height="220" role="img" aria-label="${safeLabel}" `));
}

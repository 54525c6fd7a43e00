// A Native order's code_url as the QR code a payer scans: an SVG for the advertiser's desk (the API),
// and text for a terminal (the CLI). The `qrcode` package draws both.
import QRCode from 'qrcode';

export const qrSvg = (codeUrl: string): Promise<string> =>
  QRCode.toString(codeUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });

/** Half-height blocks, so a code fits a terminal; dark modules on a light background. */
export const qrTerminal = (codeUrl: string): Promise<string> =>
  QRCode.toString(codeUrl, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });

import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  hotp,
  matchTotp,
  openSecret,
  otpauthUri,
  sealSecret,
  totp,
  type TotpAlgorithm,
} from '../../src/auth/totp.ts';

const seeds: Record<TotpAlgorithm, Buffer> = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};

// RFC 6238, appendix B (8 digits, 30-second steps).
const rfc6238: Array<[number, Record<TotpAlgorithm, string>]> = [
  [59, { sha1: '94287082', sha256: '46119246', sha512: '90693936' }],
  [1111111109, { sha1: '07081804', sha256: '68084774', sha512: '25091201' }],
  [1111111111, { sha1: '14050471', sha256: '67062674', sha512: '99943326' }],
  [1234567890, { sha1: '89005924', sha256: '91819424', sha512: '93441116' }],
  [2000000000, { sha1: '69279037', sha256: '90698825', sha512: '38618901' }],
  [20000000000, { sha1: '65353130', sha256: '77737706', sha512: '47863826' }],
];

describe('TOTP (RFC 6238) and HOTP (RFC 4226)', () => {
  it('matches the RFC 4226 HOTP test values', () => {
    const expected = [
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
      '254676',
      '287922',
      '162583',
      '399871',
      '520489',
    ];
    expect(expected.map((_, counter) => hotp(seeds.sha1, counter))).toEqual(expected);
  });

  it.each(rfc6238)('matches the RFC 6238 test values at %i s', (seconds, codes) => {
    for (const algorithm of ['sha1', 'sha256', 'sha512'] as const) {
      expect(totp(seeds[algorithm], seconds * 1000, { digits: 8, algorithm })).toBe(codes[algorithm]);
    }
  });

  it('accepts the current code and one step of drift, once, and nothing else', () => {
    const now = 1_800_000_000_000;
    const code = totp(seeds.sha1, now);
    const step = matchTotp(seeds.sha1, code, now);
    expect(step).toBe(Math.floor(now / 30_000));
    expect(matchTotp(seeds.sha1, code, now + 30_000)).toBe(step); // a step late still works
    expect(matchTotp(seeds.sha1, code, now + 60_000)).toBeNull(); // two steps late does not
    expect(matchTotp(seeds.sha1, code, now, step)).toBeNull(); // the same code twice does not
    expect(matchTotp(seeds.sha1, '12345', now)).toBeNull();
    expect(matchTotp(seeds.sha1, 'abcdef', now)).toBeNull();
  });

  it('round-trips base32 (RFC 4648 test values) and sealed secrets', () => {
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32Decode('mzxw 6ytb oi======').toString()).toBe('foobar');
    expect(() => base32Decode('not base32!')).toThrow();
    const sealed = sealSecret('JBSWY3DPEHPK3PXP', 'server secret');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(openSecret(sealed, 'server secret')).toBe('JBSWY3DPEHPK3PXP');
    expect(() => openSecret(sealed, 'another secret')).toThrow();
  });

  it('builds the otpauth address authenticator apps read', () => {
    expect(otpauthUri({ issuer: 'Our Org', account: 'ana@example.org', secret: 'JBSWY3DPEHPK3PXP' })).toBe(
      'otpauth://totp/Our%20Org:ana%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=Our+Org&algorithm=SHA1&digits=6&period=30',
    );
  });
});

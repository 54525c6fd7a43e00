import { describe, expect, it } from 'vitest';
import { originsOf, parseOrigin } from './cors.js';

describe('parseOrigin', () => {
  it.each([
    ['https://shop.example', 'https://shop.example'],
    ['https://shop.example/', 'https://shop.example'],
    ['HTTPS://Shop.Example', 'https://shop.example'],
    ['http://127.0.0.1:8000', 'http://127.0.0.1:8000'],
    ['https://shop.example:443', 'https://shop.example'], // the default port, as a browser leaves it out
    ['http://[::1]:3000', 'http://[::1]:3000'],
  ])('takes %s as %s', (text, origin) => expect(parseOrigin(text)).toBe(origin));

  it.each([
    'shop.example',
    'https://shop.example/page',
    'https://shop.example?x=1',
    'https://user@shop.example',
    'file:///tmp/page.html',
    'null',
    'https://*.example',
    'https://shop.example#top',
  ])('refuses %s', (text) => expect(parseOrigin(text)).toBeUndefined());
});

describe('originsOf', () => {
  it("knows every app's origins, and which app registered which", () => {
    const o = originsOf([
      { app_id: 'a', origin: 'https://a.example' },
      { app_id: 'b', origin: 'https://a.example' },
      { app_id: 'b', origin: 'https://b.example' },
    ]);
    expect([o.knows('https://a.example'), o.knows('https://c.example')]).toEqual([true, false]);
    expect([o.allows('a', 'https://a.example'), o.allows('a', 'https://b.example')]).toEqual([true, false]);
    expect(o.allows('b', 'https://a.example')).toBe(true);
  });
});

/**
 * The demo's TLS settings, from the environment: TLS_CERT and TLS_KEY (file
 * paths, PEM) give the certificate and its key; with TLS=1 and neither, a
 * self-signed certificate for `localhost` and 127.0.0.1 is made at start
 * with `openssl` (valid 7 days, in a temporary directory removed at once:
 * the key lives only in this process). Without any of the three, the demo
 * stays plain HTTP.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DemoTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** Where the certificate came from, for the start-up line. */
  readonly origin: string;
}

/** The demo's certificate, or `undefined` for plain HTTP. @throws Error when TLS is asked for and cannot be set up. */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoTls | undefined {
  const certPath = env.TLS_CERT ?? '';
  const keyPath = env.TLS_KEY ?? '';
  if (certPath !== '' || keyPath !== '') {
    if (certPath === '' || keyPath === '') throw new Error('give both TLS_CERT and TLS_KEY (PEM file paths), or neither');
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), origin: `certificate ${certPath}` };
  }
  if (env.TLS !== '1') return undefined;
  return { ...selfSigned(), origin: 'self-signed certificate for localhost' };
}

/** A fresh self-signed certificate and key for localhost and 127.0.0.1, made by `openssl`. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ktor-ws-demo-'));
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '7',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'openssl is not installed' : String(error);
    throw new Error(`cannot make a self-signed certificate (${reason}); give one with TLS_CERT and TLS_KEY`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestPki {
  readonly ca: Buffer;
  /** CN=localhost, SAN 127.0.0.1 and localhost, signed by `ca`. */
  readonly server: Pem;
  /** A client certificate signed by `ca`. */
  readonly client: Pem;
  /** A client certificate signed by another CA the server does not trust. */
  readonly stranger: Pem;
  /** Removes the temp dir (private keys included). */
  cleanup(): void;
}

const openssl = (dir: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

function ca(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`]);
}

function leaf(dir: string, name: string, signer: string, ext: string): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'localhost' : name}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

/**
 * A throwaway PKI made with the openssl CLI in a temp dir at test time (no private key is
 * committed): a CA, a server certificate for 127.0.0.1 / localhost, a client certificate from
 * the same CA and one from a CA the server does not trust.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-pki-'));
  try {
    ca(dir, 'ca');
    ca(dir, 'otherca');
    leaf(dir, 'server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
    leaf(dir, 'stranger', 'otherca', 'extendedKeyUsage=clientAuth\n');
    const read = (f: string) => readFileSync(join(dir, f));
    const pair = (n: string): Pem => ({ cert: read(`${n}.crt`), key: read(`${n}.key`) });
    return { ca: read('ca.crt'), server: pair('server'), client: pair('client'), stranger: pair('stranger'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

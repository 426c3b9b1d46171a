/**
 * `driftgate certs generate`: writes the webhook's CA and serving certificate, keeping an existing
 * CA so that rotating the serving certificate never invalidates the registered caBundle.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeCertificates, writeClientCertificate } from '../certs/files.js';
import { MAX_CERT_DAYS } from '../certs/generate.js';
import { type DataFormat, type Io, formatData, processIo } from './io.js';

interface GenerateOptions {
  out: string;
  hosts: string[];
  days: number;
  output: 'table' | DataFormat;
}

/** certsCommand returns the `certs` command with its `generate` subcommand. */
export function certsCommand(io: Io = processIo, clock: () => Date = () => new Date()): Command {
  const generate = new Command('generate')
    .description('write ca.crt/ca.key (kept when already there and valid) and a new tls.crt/tls.key signed by it')
    .requiredOption('--out <dir>', 'directory to write into (created 0700 when missing)')
    .requiredOption('--hosts <list>', 'comma-separated DNS names and IP addresses to serve as; the first is the CN', parseHosts)
    .option('--days <n>', 'days the serving certificate is valid', parseDays, 365)
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    // Usage errors become a CommanderError for main to turn into an exit code, rather than a
    // process.exit() from deep inside commander.
    .exitOverride()
    .action(async (opts: GenerateOptions) => {
      const written = await writeCertificates(opts.out, opts.hosts, opts.days, clock());
      const { caCert, caKey, cert, key } = written.paths;
      if (opts.output !== 'table') {
        const data = {
          ca: { reused: written.caReused, cert: caCert, key: caKey },
          serving: { cert, key, hosts: opts.hosts, notAfter: written.notAfter.toISOString() },
          caBundle: written.caBundle,
        };
        io.out.write(formatData(data, opts.output));
        return;
      }
      const ca = written.caReused
        ? `CA: reused ${caCert} (the caBundle already registered stays valid)`
        : `CA: new, wrote ${caCert} and ${caKey} (register the caBundle below)`;
      io.out.write(
        [
          ca,
          `serving certificate: wrote ${cert} and ${key} for ${opts.hosts.join(', ')}`,
          `expires: ${written.notAfter.toISOString()}`,
          `caBundle: ${written.caBundle}`,
        ].join('\n') + '\n',
      );
    });
  const client = new Command('client')
    .description(
      'write ca.crt/ca.key (kept when already there and valid), a client certificate client.crt/client.key for the kube-apiserver, and the webhook-clients.kubeconfig its AdmissionConfiguration names',
    )
    .requiredOption('--out <dir>', 'directory to write into (created 0700 when missing); keep it apart from the serving certificates')
    .option('--name <cn>', "the certificate's CN, the caller driftgate accepts (serve --client-name)", 'kube-apiserver-admission')
    .option('--webhook-host <host>', 'the host the apiserver calls driftgate at (the kubeconfig user entry it picks)', 'driftgate.driftgate-system.svc')
    .option('--days <n>', 'days the client certificate is valid', parseDays, 365)
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .exitOverride()
    .action(async (opts: { out: string; name: string; webhookHost: string; days: number; output: 'table' | DataFormat }) => {
      const written = await writeClientCertificate(opts.out, opts.name, opts.webhookHost, opts.days, clock());
      const { caCert, cert, key, kubeconfig } = written.paths;
      if (opts.output !== 'table') {
        const data = {
          ca: { reused: written.caReused, cert: caCert },
          client: { cert, key, name: opts.name, notAfter: written.notAfter.toISOString() },
          kubeconfig: { path: kubeconfig, user: opts.webhookHost },
        };
        io.out.write(formatData(data, opts.output));
        return;
      }
      io.out.write(
        [
          `CA: ${written.caReused ? 'reused' : 'new'} ${caCert}`,
          `client certificate: wrote ${cert} and ${key} (CN ${opts.name}), expires ${written.notAfter.toISOString()}`,
          `kubeconfig for the apiserver's AdmissionConfiguration: ${kubeconfig} (user ${opts.webhookHost})`,
          `driftgate serve: --client-ca ${caCert} --client-name ${opts.name}`,
        ].join('\n') + '\n',
      );
    });
  return new Command('certs').description('manage the webhook TLS certificates').addCommand(generate).addCommand(client);
}

function parseHosts(value: string): string[] {
  const hosts = value.split(',').map((h) => h.trim());
  if (hosts.some((h) => h === '')) {
    throw new InvalidArgumentError('list DNS names or IPs separated by commas, none empty, e.g. driftgate.driftgate-system.svc,127.0.0.1');
  }
  return hosts;
}

function parseDays(value: string): number {
  const days = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!(days >= 1 && days <= MAX_CERT_DAYS)) throw new InvalidArgumentError(`write a whole number of days from 1 to ${MAX_CERT_DAYS}`);
  return days;
}

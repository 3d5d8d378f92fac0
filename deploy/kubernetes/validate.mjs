// Validates rendered manifests (one multi-document YAML file) against the Kubernetes OpenAPI
// schemas of the npm package kubernetes-models, then checks what this deployment relies on.
// Run by validate.sh, from the directory where kubernetes-models and yaml are installed.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const file = process.argv[2];
const docs = parseAllDocuments(readFileSync(file, 'utf8'));
let failed = 0;
const fail = (what, msg) => { failed++; console.log(`FAIL ${what}: ${msg}`); };
const objs = [];

for (const d of docs) {
  if (d.errors.length) { fail('yaml', d.errors.map(e => e.message).join('; ')); continue; }
  const o = d.toJS();
  if (!o) continue;
  // kustomize writes a Secret's base64 data (secretGenerator) in lines of 76 characters; the API
  // server's decoder (Go's encoding/base64) skips the line breaks, the schema's "byte" format does not.
  if (o.kind === 'Secret' && o.data)
    for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/[\r\n]/g, '');
  const what = `${o.kind}/${o.metadata?.name}`;
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const mod = group === '' ? `kubernetes-models/${version}/${o.kind}`
            : `kubernetes-models/${group}/${version}/${o.kind}`;
  let Model;
  try { Model = (await import(mod))[o.kind]; } catch (e) { fail(what, `no schema for ${o.apiVersion} ${o.kind} (${e.message})`); continue; }
  try { new Model(o).validate(); console.log(`ok   ${what} (${o.apiVersion})`); }
  catch (e) { fail(what, e.message); }
  objs.push(o);
}

// Checks of our own: the schemas allow unknown fields and know nothing of how objects relate.
const by = (k, n) => objs.find(o => o.kind === k && (!n || o.metadata.name === n));
const sts = by('StatefulSet'), cm = by('ConfigMap'), sec = by('Secret', 'ursa-s3'), cron = by('CronJob');
const check = (cond, msg) => { if (cond) console.log(`ok   ${msg}`); else fail('check', msg); };
const pod = sts.spec.template.spec, c = pod.containers[0];
const env = Object.fromEntries((c.env || []).map(e => [e.name, e]));
const labelsMatch = (sel, labels) => Object.entries(sel).every(([k, v]) => labels?.[k] === v);
check(sts.spec.replicas === 2, 'StatefulSet has 2 replicas');
check(labelsMatch(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels), 'StatefulSet selector matches its pod labels');
for (const s of objs.filter(o => o.kind === 'Service'))
  check(labelsMatch(s.spec.selector, sts.spec.template.metadata.labels) && s.spec.ports.some(p => p.port === 8000),
        `Service/${s.metadata.name} selects the pods on port 8000`);
const headless = by('Service', sts.spec.serviceName);
check(headless && headless.spec.clusterIP === 'None', `serviceName ${sts.spec.serviceName} is a headless Service`);
check(env.URSA_NODE?.value === '$(POD_NAME)' && env.POD_NAME?.valueFrom?.fieldRef?.fieldPath === 'metadata.name',
      'URSA_NODE is the pod name (fieldRef metadata.name)');
check(env.URSA_ADVERTISE?.value?.startsWith(`$(POD_NAME).${sts.spec.serviceName}.$(POD_NAMESPACE).svc:8000`),
      'URSA_ADVERTISE is the pod DNS name through the headless Service');
// Kubernetes expands $(VAR) in env only from variables defined earlier in the list.
const names = (c.env || []).map(e => e.name);
for (const [i, e] of (c.env || []).entries())
  for (const m of String(e.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g))
    check(names.indexOf(m[1]) >= 0 && names.indexOf(m[1]) < i, `env ${e.name}: $(${m[1]}) is defined before it`);
const vct = sts.spec.volumeClaimTemplates.map(v => v.metadata.name);
check(c.volumeMounts.some(m => m.mountPath === '/wal' && vct.includes(m.name)) && env.URSA_WAL_DIR?.value === '/wal',
      'the WAL (/wal, URSA_WAL_DIR) is on a volumeClaimTemplate');
check(String(cm.data.URSA_STORE).startsWith('s3://'), 'URSA_STORE is an s3:// URL');
check(cm.data.S3_ENDPOINT_URL && sec.stringData?.S3_KEY && sec.stringData?.S3_SECRET, 'endpoint in the ConfigMap, credentials in the Secret');
for (const [w, p, ct] of [['StatefulSet', pod, c], ['CronJob', cron.spec.jobTemplate.spec.template.spec, cron.spec.jobTemplate.spec.template.spec.containers[0]]]) {
  check((ct.envFrom || []).some(e => e.configMapRef?.name === cm.metadata.name) &&
        (ct.envFrom || []).some(e => e.secretRef?.name === sec.metadata.name), `${w}: envFrom the ConfigMap and the Secret`);
  check(p.securityContext.runAsNonRoot === true && p.securityContext.runAsUser === 10001 &&
        ct.securityContext.readOnlyRootFilesystem === true, `${w}: non-root uid 10001, read-only root`);
  check(ct.resources?.requests && ct.resources?.limits, `${w}: resources set`);
}
for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe'])
  check(c[p]?.httpGet?.path === '/healthz' && c[p]?.httpGet?.port === 'http' && c.ports.some(x => x.name === 'http'),
        `${p} on /healthz (open without an API key)`);
// API keys: URSA_AUTH_KEYS names a file of a mounted Secret that holds that key, mounted as a
// directory (a subPath mount is never updated, so a reload would not see a changed Secret).
const authPath = env.URSA_AUTH_KEYS?.value ?? cm.data.URSA_AUTH_KEYS;
check(typeof authPath === 'string' && authPath.startsWith('/'), `URSA_AUTH_KEYS is set (${authPath})`);
if (typeof authPath === 'string') {
  const dir = authPath.slice(0, authPath.lastIndexOf('/')), file = authPath.slice(authPath.lastIndexOf('/') + 1);
  const mount = c.volumeMounts.find(m => m.mountPath === dir);
  const vol = mount && pod.volumes.find(v => v.name === mount.name);
  const ksec = vol?.secret && by('Secret', vol.secret.secretName);
  check(mount && !mount.subPath && mount.readOnly === true && vol?.secret,
        `the keys file's directory ${dir} is a read-only Secret volume without subPath`);
  check(ksec && (file in (ksec.data || {}) || file in (ksec.stringData || {})) && !vol.secret.items,
        `Secret/${vol?.secret?.secretName} holds the key "${file}"`);
  check(ksec && !(pod.containers[0].envFrom || []).some(e => e.secretRef?.name === ksec.metadata.name),
        'the keys Secret is not also turned into environment variables');
}
const shutdown = Number(cm.data.URSA_SHUTDOWN_TIMEOUT ?? 30);
check(pod.terminationGracePeriodSeconds >= shutdown + 60,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= shutdown timeout ${shutdown} + 60 s for the flush`);
const pdb = by('PodDisruptionBudget');
check(pdb.spec.maxUnavailable === 1 && labelsMatch(pdb.spec.selector.matchLabels, sts.spec.template.metadata.labels), 'PodDisruptionBudget maxUnavailable 1 on the pods');
check(cron.spec.jobTemplate.spec.template.spec.containers[0].args[0] === 'compact' &&
      cron.spec.jobTemplate.spec.template.spec.containers[0].args.includes('--store'), 'CronJob runs ursa compact --store');

console.log(failed ? `${failed} failure(s)` : 'all checks passed');
process.exit(failed ? 1 : 0);

// `useradd` for a base image without one (or without a shell): adds a system user and its group,
// same name and id, no home, no login. Idempotent. Usage: node add-user.mjs <name> <id>
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

const [name, id] = process.argv.slice(2);
if (!name || !/^[a-z_][a-z0-9_-]*$/.test(name) || !id || !/^\d+$/.test(id)) {
  console.error('usage: add-user.mjs <name> <numeric id>');
  process.exit(2);
}
function add(file, line) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const rows = text.split('\n').map((l) => l.split(':'));
  if (rows.some((r) => r[0] === name || r[2] === id)) {
    if (!rows.some((r) => r[0] === name && r[2] === id)) {
      console.error(`adding ${name} (${id}) to ${file}: the name or the id is taken by another entry`);
      process.exit(1);
    }
    return;
  }
  appendFileSync(file, `${text && !text.endsWith('\n') ? '\n' : ''}${line}\n`);
}
add('/etc/group', `${name}:x:${id}:`);
add('/etc/passwd', `${name}:x:${id}:${id}:Lockstep:/nonexistent:/usr/sbin/nologin`);

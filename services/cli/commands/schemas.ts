/**
 * `lockstep schemas check | register`: the Avro contracts against the registry and against the
 * released snapshots in schemas/released/.
 */
import { lockstepTopicSpecs } from '../../app/topics.ts';
import type { Command } from 'commander';
import { loadConfig } from '../../core/config/index.ts';
import {
  checkAgainstReleased,
  createRegistry,
  schemaForTopic,
  schemaText,
  valueSubject,
} from '../../core/kafka/index.ts';

/** Every Lockstep topic's value subject with the schema it must hold. */
function subjects(configFile: string | undefined) {
  const config = loadConfig(configFile);
  const list = lockstepTopicSpecs(config.kafka).flatMap((t) => {
    const name = schemaForTopic(config.kafka.topics, t.name);
    return name ? [{ subject: valueSubject(t.name), name }] : [];
  });
  return { config, registry: createRegistry(config.registry.url), list };
}

export function register(program: Command): void {
  const schemas = program
    .command('schemas')
    .description('Avro contracts (schemas/*.avsc) and the schema registry');

  schemas
    .command('check')
    .description(
      "check each schema against schemas/released/ (avsc resolver) and the registry's latest (BACKWARD); exit 1 on a problem",
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--offline', 'skip the registry, check the released snapshots only')
    .option('--json', 'one JSON object per check: {against, subject|name, result, problem}')
    .action(async (opts: { config?: string; offline?: boolean; json?: boolean }) => {
      let bad = 0;
      const say = (line: string, obj: Record<string, unknown>) =>
        console.log(opts.json ? JSON.stringify(obj) : line);
      for (const p of checkAgainstReleased()) {
        bad++;
        say(`FAIL released  ${p.name} cannot read data written with v${p.version}: ${p.problem}`, {
          against: 'released',
          name: p.name,
          version: p.version,
          result: 'fail',
          problem: p.problem,
        });
      }
      if (bad === 0)
        say('ok   released  all schemas read every released version', { against: 'released', result: 'ok' });
      if (opts.offline) {
        process.exitCode = bad ? 1 : 0;
        return;
      }
      const { registry, list } = subjects(opts.config);
      for (const { subject, name } of list) {
        const r = await registry.checkCompatibility(subject, schemaText(name));
        const at = { against: 'registry', subject, name };
        if (r === undefined)
          say(`new  registry  ${subject}: not registered yet (${name})`, { ...at, result: 'new' });
        else if (r.compatible)
          say(`ok   registry  ${subject}: ${name} is compatible with the latest version`, {
            ...at,
            result: 'ok',
          });
        else {
          bad++;
          say(
            `FAIL registry  ${subject}: ${name} is not compatible with the latest version${r.messages.length ? `: ${r.messages.join('; ')}` : ''}`,
            { ...at, result: 'fail', problem: r.messages.join('; ') },
          );
        }
      }
      process.exitCode = bad ? 1 : 0;
    });

  schemas
    .command('register')
    .description('register each schema under <topic>-value with BACKWARD compatibility (idempotent)')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--json', 'one JSON object per subject: {subject, name, id}')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { registry, list } = subjects(opts.config);
      for (const { subject, name } of list) {
        const id = await registry.register(subject, schemaText(name));
        console.log(opts.json ? JSON.stringify({ subject, name, id }) : `${subject}  ${name}  id=${id}`);
      }
    });
}

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
    .action(async (opts: { config?: string; offline?: boolean }) => {
      let bad = 0;
      for (const p of checkAgainstReleased()) {
        bad++;
        console.log(`FAIL released  ${p.name} cannot read data written with v${p.version}: ${p.problem}`);
      }
      if (bad === 0) console.log('ok   released  all schemas read every released version');
      if (opts.offline) {
        process.exitCode = bad ? 1 : 0;
        return;
      }
      const { registry, list } = subjects(opts.config);
      for (const { subject, name } of list) {
        const r = await registry.checkCompatibility(subject, schemaText(name));
        if (r === undefined) console.log(`new  registry  ${subject}: not registered yet (${name})`);
        else if (r.compatible)
          console.log(`ok   registry  ${subject}: ${name} is compatible with the latest version`);
        else {
          bad++;
          console.log(
            `FAIL registry  ${subject}: ${name} is not compatible with the latest version${r.messages.length ? `: ${r.messages.join('; ')}` : ''}`,
          );
        }
      }
      process.exitCode = bad ? 1 : 0;
    });

  schemas
    .command('register')
    .description('register each schema under <topic>-value with BACKWARD compatibility (idempotent)')
    .option('-c, --config <file>', 'lockstep.yaml')
    .action(async (opts: { config?: string }) => {
      const { registry, list } = subjects(opts.config);
      for (const { subject, name } of list)
        console.log(`${subject}  ${name}  id=${await registry.register(subject, schemaText(name))}`);
    });
}

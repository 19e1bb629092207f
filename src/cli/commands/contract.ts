import { Command, Option } from 'commander';
import { REFERENCE_CONTRACT, contractDifferences, loadContractFile } from '../../contract/contract-file.js';
import { parsers, type RawOptions } from '../options.js';

/** `runwatch contract check FILE [--against FILE]`: validates a contract file and lists what it changes. */
export function contractCommand(): Command {
  const contract = new Command('contract').description('run contract files (what a correct run is, thresholds, grades)');
  const check = new Command('check')
    .description('validate a contract file (exit 2 naming the key that is wrong) and list how it differs from another (default: the reference contract)')
    .argument('<file>', 'contract file, YAML or JSON')
    .addOption(new Option('--against <file>', 'compare with this contract file instead of the built-in reference').argParser(parsers.nonEmpty))
    .action(async (file: string, raw: RawOptions) => {
      const candidate = await loadContractFile(file);
      const base = typeof raw.against === 'string' ? await loadContractFile(raw.against) : REFERENCE_CONTRACT;
      const differences = contractDifferences(base, candidate);
      const lines = [`${file}: valid contract "${candidate.name}" (format version ${candidate.version}), sha256 ${candidate.hash}`];
      lines.push(differences.length === 0 ? `same rules as ${base.origin === REFERENCE_CONTRACT.origin ? 'the reference contract' : base.origin}` : `differs from ${base.origin === REFERENCE_CONTRACT.origin ? 'the reference contract' : base.origin} in ${differences.length} place(s):`);
      for (const difference of differences) lines.push(`  ${difference}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  return contract.addCommand(check);
}

// Golden scripts (test/golden/*.txt): commands / ---- / expected output. UPDATE_GOLDEN=1 rewrites them.
import test from 'ava';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseGolden, runGolden } from '../testing/index.js';

// Compiled to dist/test; the scripts stay in the source tree.
const dir = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
const update = process.env['UPDATE_GOLDEN'] === '1';

test('golden scripts exist', (t) => {
  t.true(files.length >= 5, `found ${files.length} scripts in ${dir}`);
});

for (const file of files) {
  test(`golden ${file}`, (t) => {
    const path = dir + file;
    const text = readFileSync(path, 'utf8');
    const { blocks, outputs, rendered } = runGolden(text, file);
    if (update) {
      writeFileSync(path, rendered);
      t.pass();
      return;
    }
    for (let k = 0; k < blocks.length; k++) {
      t.deepEqual(outputs[k], blocks[k]!.expected, `${file}:${blocks[k]!.line}: ${blocks[k]!.command}`);
    }
    // A script with no expectation errors is still checked for errors the author did not intend.
    for (let k = 0; k < blocks.length; k++) {
      if (!blocks[k]!.expected.some((l) => l.startsWith('error:'))) t.false(outputs[k]!.some((l) => l.startsWith('error:')), `${file}:${blocks[k]!.line}`);
    }
  });
}

test('golden parser rejects a command without a separator and round-trips a script', (t) => {
  t.throws(() => parseGolden('status\nnot a separator\n'), { instanceOf: SyntaxError });
  const script = '# a comment\ncluster voters=1\n----\nstale output\n\nstatus\n----\nstale\n';
  const { rendered, outputs } = runGolden(script);
  t.true(rendered.startsWith('# a comment\ncluster voters=1\n----\n1: follower term=1'));
  t.deepEqual(runGolden(rendered).outputs, outputs);
  t.deepEqual(runGolden('bogus\n----\nx\n').outputs, [['error: unknown command "bogus"']]);
});

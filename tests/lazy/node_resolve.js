// Run by tests/e2e/lazy.sh inside the node fixture (pare run -i): Node's
// own require.resolve for each [file, spec] pair read as JSON on stdin.
// Prints JSON [[file, spec, resolved path | builtin name | null], ...].
const { createRequire } = require('module');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
	const out = JSON.parse(input).map(([file, spec]) => {
		try {
			return [file, spec, createRequire(file).resolve(spec)];
		} catch (e) {
			return [file, spec, null];
		}
	});
	process.stdout.write(JSON.stringify(out));
});

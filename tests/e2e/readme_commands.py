#!/usr/bin/env python3
"""Every pare command line a README shows, in order, as JSON lines.

A command is a line of an indented (4-space) code block that starts with
`pare ` or `$ pare ` (or pipes `docker save` into pare), joined with the
next while it ends in a backslash. Output shown after a `$ ` command is
not a command. Markers, HTML comments the rendered README does not show,
say how to run what they name (PREFIX: the start of the command):

  <!-- readme-test: session "PREFIX" -->   run it on a terminal (script(1))
                                          and type the `# ` lines that
                                          follow it in the block (or `exit`)
  <!-- readme-test: exit N "PREFIX" -->    it must exit with N, not 0
  <!-- readme-test: skip "PREFIX" REASON -->  do not run it; say why

A marker that names no command is an error: a README edit must not leave
a stale marker behind.
"""
import json
import re
import sys

MARKER = re.compile(r'<!--\s*readme-test:\s*(session|exit|skip)\s+(.*?)\s*-->')
COMMAND = re.compile(r'^(\$ )?(pare |docker save \S+ \| pare )')


def parse_marker(kind, rest, where):
    m = re.match(r'(?:(\d+)\s+)?"([^"]+)"\s*(.*)$', rest)
    if not m or (kind == 'exit') != bool(m.group(1)):
        sys.exit(f'{where}: bad readme-test marker: {kind} {rest}')
    return {'kind': kind, 'code': int(m.group(1) or 0), 'prefix': m.group(2),
            'reason': m.group(3), 'used': False, 'where': where}


def commands(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    markers, out = [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        for m in MARKER.finditer(line):
            markers.append(parse_marker(m.group(1), m.group(2), f'{path}:{i + 1}'))
        if not line.startswith('    '):
            i += 1
            continue
        text = line[4:]
        if not COMMAND.match(text):
            i += 1
            continue
        start = i
        cmd = text[2:] if text.startswith('$ ') else text
        while cmd.endswith('\\') and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + ' ' + lines[i].strip()
        i += 1
        entry = {'file': path, 'line': start + 1, 'cmd': cmd.strip(), 'mode': 'run', 'exit': 0}
        for mk in markers:
            if entry['cmd'].startswith(mk['prefix']):
                mk['used'] = True
                if mk['kind'] == 'exit':
                    entry['exit'] = mk['code']
                else:
                    entry['mode'] = mk['kind']
                    entry['reason'] = mk['reason']
        if entry['mode'] == 'session':
            typed = []
            while i < len(lines) and lines[i].startswith('    # '):
                typed.append(lines[i][6:])
                i += 1
            entry['input'] = typed or ['exit']
            if typed and typed[-1] != 'exit':
                entry['input'].append('exit')
        out.append(entry)
    for mk in markers:
        if not mk['used']:
            sys.exit(f'{mk["where"]}: readme-test marker names no command: "{mk["prefix"]}"')
    return out


for f in sys.argv[1:]:
    for c in commands(f):
        print(json.dumps(c))

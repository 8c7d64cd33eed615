#!/usr/bin/python3
"""Read the CI examples (examples/ci/) as their engines would and print, per
example, one JSON line: the `docker run` options that give its container
the same user and security settings, the entrypoint and arguments it runs,
and its pare command line. tests/e2e/container.sh runs each under the
suite's dockerd and checks the command line is the one its own rows run.
A setting this reader does not know fails it, so an example cannot grow
a requirement the test does not reproduce."""
import json
import re
import shlex
import sys

import yaml


def fail(example, why):
    sys.exit(f"{example}: {why}")


def kubernetes(path, doc=None):
    doc = doc or yaml.safe_load(open(path))
    if doc.get("kind") != "Job":
        fail(path, "not a Job")
    pod = doc["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    opts = []
    psc = dict(pod.get("securityContext", {}))
    if "runAsUser" in psc:
        opts += ["--user", f"{psc.pop('runAsUser')}:{psc.pop('runAsGroup', 0)}"]
    for key, name in (("seccompProfile", "seccomp"), ("appArmorProfile", "apparmor")):
        prof = psc.pop(key, None)
        if prof is not None:
            if prof.get("type") != "Unconfined":
                fail(path, f"{key}.type {prof.get('type')!r} is not reproduced")
            opts += ["--security-opt", f"{name}=unconfined"]
    if psc:
        fail(path, f"pod securityContext keys not reproduced: {sorted(psc)}")
    csc = dict(c.get("securityContext", {}))
    if csc.pop("allowPrivilegeEscalation", True) is False:
        opts += ["--security-opt", "no-new-privileges"]
    caps = csc.pop("capabilities", {})
    for cap in caps.pop("drop", []):
        opts += ["--cap-drop", cap]
    if caps or csc:
        fail(path, f"container securityContext keys not reproduced: {sorted(caps) + sorted(csc)}")
    if "command" in c:
        fail(path, "a command replaces pare's entrypoint")
    args = [str(a) for a in c["args"]]
    return {"options": opts, "workdir": c.get("workingDir"), "image": c["image"],
            "entrypoint": None, "args": args, "command": shlex.join(["pare"] + args)}


def shell_step(path, image, opts, lines):
    (line,) = lines
    return {"options": opts, "workdir": None, "image": image, "entrypoint": "/bin/sh",
            "args": ["-c", line], "command": shlex.join(shlex.split(line))}


def gitlab(path):
    text = open(path).read()
    # The runner's settings live in its config.toml; the example names them
    # in a comment, and that comment is what is reproduced.
    m = re.search(r"security_opt = (\[.*\])", text)
    if not m:
        fail(path, "names no runner security_opt")
    opts = [o for s in json.loads(m.group(1)) for o in ("--security-opt", s)]
    (job,) = [v for k, v in yaml.safe_load(text).items() if isinstance(v, dict) and "script" in v]
    if job["image"].get("entrypoint") != [""]:
        fail(path, "the job must clear pare's entrypoint to run its script")
    return shell_step(path, job["image"]["name"], opts, job["script"])


def github(path):
    doc = yaml.safe_load(open(path))
    (job,) = doc["jobs"].values()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    if any(s.get("shell") != "sh" for s in job["steps"] if "run" in s):
        fail(path, "a run step needs `shell: sh` (the image has no bash)")
    return shell_step(path, job["container"]["image"], shlex.split(job["container"].get("options", "")), runs)


# The fleet examples: their steps in order, each a pare command line with
# the engine's index variable written INDEX. tests/e2e/fleet.sh runs them.
def fleet_kubernetes(path):
    steps = []
    for doc in yaml.safe_load_all(open(path)):
        job = kubernetes(path, doc)
        indexed = doc["spec"].get("completionMode") == "Indexed"
        cmd = job["command"].replace("'$(JOB_COMPLETION_INDEX)'", "INDEX")
        if indexed != ("INDEX" in cmd):
            fail(path, f"{doc['metadata']['name']}: an Indexed Job must pass its index, and only it")
        steps.append(cmd)
    return {"steps": steps}


def fleet_github(path):
    doc = yaml.safe_load(open(path))
    steps = []
    for name, job in doc["jobs"].items():
        runs = [s for s in job["steps"] if "run" in s]
        if any(s.get("shell") != "sh" for s in runs):
            fail(path, f"{name}: a run step needs `shell: sh`")
        for s in runs:
            steps.append(s["run"].replace("${{ matrix.index }}", "INDEX"))
    return {"steps": steps}


def fleet_gitlab(path):
    doc = yaml.safe_load(open(path))
    steps = []
    for stage in doc["stages"]:
        for name, job in doc.items():
            if isinstance(job, dict) and job.get("stage") == stage:
                (line,) = job["script"]
                steps.append(line.replace("$((CI_NODE_INDEX - 1))", "INDEX"))
    return {"steps": steps}


READERS = {"kubernetes-job.yaml": kubernetes, "gitlab-ci.yml": gitlab, "github-actions.yml": github,
           "gitlab-ci-registry.yml": gitlab,
           "fleet-kubernetes.yaml": fleet_kubernetes, "fleet-github-actions.yml": fleet_github,
           "fleet-gitlab-ci.yml": fleet_gitlab}

for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1]
    if name not in READERS:
        fail(path, "no reader for this example")
    out = READERS[name](path)
    out["name"] = name
    print(json.dumps(out))

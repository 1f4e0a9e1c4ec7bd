"""The Kubernetes objects of a deployment: a Deployment + Service and a KServe InferenceService.

Built as plain dicts (the YAML is their dump). :func:`check_manifests` checks what a schema cannot:
every probe's port is a port of its container, every container has an image, the Service selects
the Deployment's pods and targets a port they expose.
"""

from __future__ import annotations

import re

K8S_VERSION = "1.37.0"  # the Kubernetes version the manifests are validated against (kubernetes-validate)
READY_PATH, LIVE_PATH = "/ready", "/health"
V2_READY_PATH, V2_LIVE_PATH = "/v2/health/ready", "/v2/health/live"
_PORT_NAME = "http"
_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}


def _probe(path: str, port, *, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 2,
            "failureThreshold": failures}


def _security() -> dict:
    return {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"]}}


def _labels(name: str, labels: dict) -> dict:
    out = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "mlaas-workbench"}
    if labels.get("version"):
        out["app.kubernetes.io/version"] = str(labels["version"])
    return out


def _annotations(labels: dict) -> dict:
    return {f"mlaas.workbench/{k.replace('_', '-')}": str(v) for k, v in labels.items() if v not in (None, "")}


def deployment_objects(name: str, image: str, *, port: int = 8080, labels: dict | None = None, replicas: int = 1) -> list[dict]:
    """An ``apps/v1`` Deployment (readiness on /ready, liveness on /health) and a ``v1`` Service for it."""
    labels = labels or {}
    meta = {"name": name, "labels": _labels(name, labels), "annotations": _annotations(labels)}
    selector = {"app.kubernetes.io/name": name}
    container = {
        "name": "server", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": _PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": _probe(READY_PATH, _PORT_NAME, period=5, failures=3),
        "livenessProbe": _probe(LIVE_PATH, _PORT_NAME, period=10, failures=3),
        # the model loads in about a second; allow a slow node a minute before liveness counts
        "startupProbe": _probe(LIVE_PATH, _PORT_NAME, period=2, failures=30),
        "resources": _RESOURCES, "securityContext": _security(),
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**meta["labels"]}, "annotations": meta["annotations"]},
                         "spec": {"containers": [container], "terminationGracePeriodSeconds": 20}},
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": meta["labels"]},
        "spec": {"type": "ClusterIP", "selector": selector,
                 "ports": [{"name": _PORT_NAME, "port": 80, "targetPort": _PORT_NAME, "protocol": "TCP"}]},
    }
    return [deployment, service]


def inference_service(name: str, image: str, *, port: int = 8080, labels: dict | None = None,
                      min_replicas: int = 1, max_replicas: int = 3) -> dict:
    """A ``serving.kserve.io/v1beta1`` InferenceService whose predictor is the image (a custom container).

    KServe's custom predictor: one container named ``kserve-container``; Knative wants its port named
    ``http1`` and probes on that same port; the V2 (Open Inference Protocol) health routes.
    """
    labels = labels or {}
    container = {
        "name": "kserve-container", "image": image,
        "ports": [{"name": "http1", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": _probe(V2_READY_PATH, port, period=5, failures=3),
        "livenessProbe": _probe(V2_LIVE_PATH, port, period=10, failures=3),
        "resources": _RESOURCES, "securityContext": _security(),
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "labels": _labels(name, labels), "annotations": _annotations(labels)},
        "spec": {"predictor": {"minReplicas": min_replicas, "maxReplicas": max_replicas, "containers": [container]}},
    }


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "InferenceService":
        return list((spec.get("predictor") or {}).get("containers") or [])
    return list(((spec.get("template") or {}).get("spec") or {}).get("containers") or [])


# Kubernetes' resource.Quantity (the pattern its CRDs carry; the core JSON schemas do not check it)
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


def _container_problems(where: str, container: dict) -> list[str]:
    problems = []
    cname = container.get("name", "?")
    if not container.get("image"):
        problems.append(f"{where}: container {cname!r} has no image")
    for kind, values in (container.get("resources") or {}).items():
        for resource, value in (values or {}).items():
            if not _QUANTITY.match(str(value)):
                problems.append(f"{where}: resources.{kind}.{resource} of {cname!r} is {value!r}, not a quantity (e.g. 500m, 2, 1Gi)")
    ports = container.get("ports") or []
    names = {p.get("name") for p in ports if p.get("name")}
    numbers = {p.get("containerPort") for p in ports}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = (container.get(probe) or {}).get("httpGet")
        if get is None:
            continue
        port = get.get("port")
        if isinstance(port, str) and port not in names:
            problems.append(f"{where}: {probe} of {cname!r} uses port name {port!r}, not one of its ports {sorted(names)}")
        elif isinstance(port, int) and port not in numbers:
            problems.append(f"{where}: {probe} of {cname!r} uses port {port}, not one of its ports {sorted(numbers)}")
        if not str(get.get("path", "")).startswith("/"):
            problems.append(f"{where}: {probe} of {cname!r} has path {get.get('path')!r}, not an absolute path")
    return problems


def _service_problems(service: dict, workloads: list[dict]) -> list[str]:
    where = f"Service {service.get('metadata', {}).get('name')!r}"
    selector = (service.get("spec") or {}).get("selector") or {}
    matched = [w for w in workloads
               if selector and selector.items() <= ((w["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}).items()]
    if not matched:
        return [f"{where}: its selector {selector} matches no Deployment's pod labels"]
    exposed = {p.get("name") for w in matched for c in _containers(w) for p in c.get("ports") or []}
    exposed |= {p.get("containerPort") for w in matched for c in _containers(w) for p in c.get("ports") or []}
    return [f"{where}: targetPort {p.get('targetPort')!r} is not a port of the pods it selects"
            for p in (service.get("spec") or {}).get("ports") or [] if p.get("targetPort", p.get("port")) not in exposed]


def check_manifests(docs: list[dict]) -> list[str]:
    """What is inconsistent across ``docs`` (Deployments, Services, InferenceServices); empty when none."""
    problems: list[str] = []
    workloads = [d for d in docs if d.get("kind") in ("Deployment", "InferenceService")]
    for doc in workloads:
        where = f"{doc['kind']} {doc.get('metadata', {}).get('name')!r}"
        containers = _containers(doc)
        if not containers:
            problems.append(f"{where}: no containers")
        for container in containers:
            problems += _container_problems(where, container)
        if doc["kind"] == "Deployment":
            match = ((doc["spec"].get("selector") or {}).get("matchLabels") or {}).items()
            if not match <= ((doc["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}).items():
                problems.append(f"{where}: spec.selector does not match the pod template's labels")
    for service in (d for d in docs if d.get("kind") == "Service"):
        problems += _service_problems(service, [w for w in workloads if w["kind"] == "Deployment"])
    return problems

#!/usr/bin/env python3
"""Render a kustomization of deploy/k8s the way `kubectl kustomize` does, for machines
without kustomize (none of this project's package registries ships it).

Only the subset of kustomize these files use is implemented, and anything else in a
kustomization.yaml is refused rather than ignored:

  resources          files (several documents each) and directories with a kustomization
  patches            strategic-merge patches from `path`, on the resource they name
                     (kind and metadata.name, or an explicit `target` of kind and name)
  images             name -> newName / newTag / digest, in every container and init container
  secretGenerator    `literals` and `files`, type Opaque, with kustomize's name-suffix hash,
  configMapGenerator and every reference to them (env, envFrom, volumes) renamed

Usage:
  render.py DIR                        print the rendering as YAML documents
  render.py --json DIR                 ... as one JSON array
  render.py --validate 1.30 DIR        also validate every document against the Kubernetes
                                       1.30 schemas, strictly (needs `kubernetes-validate`)
  render.py --compare-kubectl DIR      also render with `kubectl kustomize` when kubectl is on
                                       PATH and fail unless both renderings are equal

Exit status: 0 when rendered (and valid, and equal), 1 otherwise.
"""

import argparse
import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "patches",
    "images",
    "secretGenerator",
    "configMapGenerator",
}

# Strategic merge: the key that identifies an item of each merged list (the Kubernetes
# types' patchMergeKey); lists not named here are replaced whole, as their types say.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
    "hostAliases": "ip",
}

# kustomize's legacy output order (kubectl kustomize's default): these kinds first, in
# this order, the webhooks last, anything else in between by kind.
ORDER_FIRST = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
    "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
    "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
    "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
    "StatefulSet", "CronJob", "PodDisruptionBudget",
]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


class RenderError(Exception):
    pass


def load_documents(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def kustomization_file(directory):
    for name in KUSTOMIZATION_FILES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    raise RenderError(f"{directory}: no kustomization.yaml")


def resource_id(doc):
    return (doc.get("kind"), doc.get("metadata", {}).get("name"))


# --- generators ---------------------------------------------------------------------------


def go_json(value):
    """json.Marshal's output: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def encode_base64(text):
    """kustomize's base64 of a Secret value: wrapped at 70 characters, each line then ending
    in a newline, once the encoding is 70 characters or longer (decoders skip newlines)."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(encoded) < 70:
        return encoded
    return "".join(encoded[i:i + 70] + "\n" for i in range(0, len(encoded), 70))


def name_suffix(doc):
    """kustomize's content hash of a generated Secret or ConfigMap (api/hasher): of its
    kind, data (and a Secret's type), with the name left empty."""
    encoded = {"kind": doc["kind"], "name": "", "data": doc.get("data", {})}
    if doc["kind"] == "Secret":
        encoded["type"] = doc.get("type", "Opaque")
    digest = hashlib.sha256(go_json(encoded).encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def generated_entries(directory, spec, where):
    unknown = set(spec) - {"name", "literals", "files"}
    if unknown:
        raise RenderError(f"{where}: render.py does not support {sorted(unknown)}")
    entries = {}
    for literal in spec.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise RenderError(f"{where}: literal {literal!r} is not KEY=VALUE")
        entries[key] = value
    for file_spec in spec.get("files", []):
        key, sep, path = file_spec.partition("=")
        if not sep:
            key, path = os.path.basename(file_spec), file_spec
        with open(os.path.join(directory, path), encoding="utf-8") as handle:
            entries[key] = handle.read()
    return entries


def generate(directory, kustomization):
    """The generated resources, each with its original name in `generated_from`."""
    generated = []
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for spec in kustomization.get(field, []):
            where = f"{directory}: {field} {spec.get('name')}"
            entries = generated_entries(directory, spec, where)
            doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
            if kind == "Secret":
                doc["data"] = {k: encode_base64(v) for k, v in entries.items()}
                doc["type"] = "Opaque"
            else:
                doc["data"] = entries
            original = spec["name"]
            doc["metadata"]["name"] = f"{original}-{name_suffix(doc)}"
            generated.append((kind, original, doc))
    return generated


def pod_specs(doc):
    spec = doc.get("spec", {})
    if doc.get("kind") == "Pod":
        yield spec
    if "template" in spec:
        yield spec["template"].get("spec", {})
    if "jobTemplate" in spec:
        yield spec["jobTemplate"].get("spec", {}).get("template", {}).get("spec", {})


def rename_references(docs, renames):
    """Points every reference to a generated Secret or ConfigMap at its hashed name."""
    def renamed(kind, name):
        return renames.get((kind, name), name)

    for doc in docs:
        for pod in pod_specs(doc):
            for secret in pod.get("imagePullSecrets", []):
                secret["name"] = renamed("Secret", secret.get("name"))
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    volume["secret"]["secretName"] = renamed("Secret", volume["secret"].get("secretName"))
                if "configMap" in volume:
                    volume["configMap"]["name"] = renamed("ConfigMap", volume["configMap"].get("name"))
                for source in volume.get("projected", {}).get("sources", []):
                    if "secret" in source:
                        source["secret"]["name"] = renamed("Secret", source["secret"].get("name"))
                    if "configMap" in source:
                        source["configMap"]["name"] = renamed("ConfigMap", source["configMap"].get("name"))
            for group in ("containers", "initContainers"):
                for container in pod.get(group, []):
                    for env in container.get("env", []):
                        ref = env.get("valueFrom", {})
                        if "secretKeyRef" in ref:
                            ref["secretKeyRef"]["name"] = renamed("Secret", ref["secretKeyRef"].get("name"))
                        if "configMapKeyRef" in ref:
                            ref["configMapKeyRef"]["name"] = renamed("ConfigMap", ref["configMapKeyRef"].get("name"))
                    for source in container.get("envFrom", []):
                        if "secretRef" in source:
                            source["secretRef"]["name"] = renamed("Secret", source["secretRef"].get("name"))
                        if "configMapRef" in source:
                            source["configMapRef"]["name"] = renamed("ConfigMap", source["configMapRef"].get("name"))


# --- patches ------------------------------------------------------------------------------


def merge_key(field, base_items, patch_items):
    if field == "ports":
        items = list(base_items) + list(patch_items)
        if items and all(isinstance(i, dict) and "containerPort" in i for i in items):
            return "containerPort"
        if items and all(isinstance(i, dict) and "port" in i for i in items):
            return "port"
        return None
    return MERGE_KEYS.get(field)


def strategic_merge(base, patch, where):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(base, dict):
        base = {}
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if key.startswith("$"):
            raise RenderError(f"{where}: render.py does not support the directive {key}")
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            field_key = merge_key(key, merged[key], value)
            if field_key is None:
                merged[key] = copy.deepcopy(value)
            else:
                # Items the base lacks come first, in the patch's order (as kustomize does).
                items = merged[key]
                added = []
                for item in value:
                    match = next((i for i, existing in enumerate(items)
                                  if existing.get(field_key) == item.get(field_key)), None)
                    if match is None:
                        added.append(copy.deepcopy(item))
                    else:
                        items[match] = strategic_merge(items[match], item, where)
                merged[key] = added + items
        elif isinstance(value, dict):
            merged[key] = strategic_merge(merged.get(key), value, where)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_patches(directory, kustomization, docs):
    for entry in kustomization.get("patches", []):
        unknown = set(entry) - {"path", "target"}
        if unknown or "path" not in entry:
            raise RenderError(f"{directory}: render.py supports patches with `path` (and `target`) only")
        target = entry.get("target", {})
        if set(target) - {"kind", "name"}:
            raise RenderError(f"{directory}: a patch target may name kind and name only")
        for patch in load_documents(os.path.join(directory, entry["path"])):
            kind = target.get("kind", patch.get("kind"))
            name = target.get("name", patch.get("metadata", {}).get("name"))
            matches = [i for i, doc in enumerate(docs) if resource_id(doc) == (kind, name)]
            if len(matches) != 1:
                raise RenderError(f"{directory}: patch {entry['path']} matches {len(matches)} resources ({kind} {name})")
            index = matches[0]
            if patch.get("apiVersion", docs[index]["apiVersion"]) != docs[index]["apiVersion"]:
                raise RenderError(f"{directory}: patch {entry['path']} has another apiVersion than {kind} {name}")
            docs[index] = strategic_merge(docs[index], patch, f"{directory}/{entry['path']}")


# --- images -------------------------------------------------------------------------------


def split_image(image):
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1:]
    return image, tag, digest


def apply_images(directory, kustomization, docs):
    for rule in kustomization.get("images", []):
        unknown = set(rule) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise RenderError(f"{directory}: render.py does not support images fields {sorted(unknown)}")
        for doc in docs:
            for pod in pod_specs(doc):
                for group in ("containers", "initContainers"):
                    for container in pod.get(group, []):
                        name, tag, digest = split_image(container.get("image", ""))
                        if name != rule["name"]:
                            continue
                        name = rule.get("newName", name)
                        if "digest" in rule:
                            tag, digest = None, rule["digest"]
                        elif "newTag" in rule:
                            tag, digest = str(rule["newTag"]), None
                        image = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                        container["image"] = image


# --- the kustomization --------------------------------------------------------------------


def render(directory):
    path = kustomization_file(directory)
    kustomization = load_documents(path)[0]
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{path}: render.py does not support {sorted(unknown)}; use kubectl kustomize")
    docs = []
    renames = {}
    for resource in kustomization.get("resources", []):
        full = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(full):
            inner_docs, inner_renames = render(full)
            docs.extend(inner_docs)
            renames.update(inner_renames)
        else:
            docs.extend(load_documents(full))
    for kind, original, doc in generate(directory, kustomization):
        if any(resource_id(d) == (kind, original) for d in docs) or (kind, original) in renames:
            raise RenderError(f"{directory}: {kind} {original} exists already (behavior: merge is not supported)")
        docs.append(doc)
        renames[(kind, original)] = doc["metadata"]["name"]
    apply_patches(directory, kustomization, docs)
    apply_images(directory, kustomization, docs)
    rename_references(docs, renames)
    seen = set()
    for doc in docs:
        if resource_id(doc) in seen:
            raise RenderError(f"{directory}: {resource_id(doc)} appears twice")
        seen.add(resource_id(doc))
    return docs, renames


def ordered(docs):
    def rank(doc):
        kind = doc.get("kind")
        if kind in ORDER_FIRST:
            group = (0, ORDER_FIRST.index(kind), "")
        elif kind in ORDER_LAST:
            group = (2, ORDER_LAST.index(kind), "")
        else:
            group = (1, 0, kind)
        return group + (doc.get("metadata", {}).get("name", ""),)
    return sorted(docs, key=rank)


def validate(docs, versions):
    import kubernetes_validate  # from PyPI: kubernetes-validate

    failures = []
    for version in versions:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except Exception as error:  # every kind of refusal is a failure
                path = getattr(error, "absolute_path", None)
                where = ".".join(str(p) for p in path) if path else "document"
                message = getattr(error, "message", None) or str(error)
                failures.append(f"Kubernetes {version}: {doc.get('kind')} "
                                f"{doc.get('metadata', {}).get('name')}: {where}: {message}")
    return failures


def compare_with_kubectl(directory, docs):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print(f"{directory}: kubectl not found, comparison with kubectl kustomize skipped",
              file=sys.stderr)
        return []
    rendered = subprocess.run([kubectl, "kustomize", directory], capture_output=True,
                              text=True, check=False)
    if rendered.returncode != 0:
        return [f"kubectl kustomize {directory} failed: {rendered.stderr.strip()}"]
    theirs = {resource_id(d): d for d in yaml.safe_load_all(rendered.stdout) if d}
    ours = {resource_id(d): d for d in docs}
    failures = []
    for key in sorted(set(theirs) | set(ours), key=str):
        if theirs.get(key) != ours.get(key):
            failures.append(f"{directory}: {key} differs from kubectl kustomize:\n"
                            f"  render.py: {json.dumps(ours.get(key), sort_keys=True)}\n"
                            f"  kubectl:   {json.dumps(theirs.get(key), sort_keys=True)}")
    if not failures:
        print(f"{directory}: equal to kubectl kustomize ({len(docs)} resources)", file=sys.stderr)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    parser.add_argument("--validate", action="append", default=[], metavar="VERSION",
                        help="validate against these Kubernetes versions' schemas (repeatable)")
    parser.add_argument("--compare-kubectl", action="store_true",
                        help="fail unless kubectl kustomize (when on PATH) renders the same")
    args = parser.parse_args()
    try:
        docs, _ = render(args.directory)
    except (RenderError, OSError, yaml.YAMLError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    docs = ordered(docs)
    failures = validate(docs, args.validate) if args.validate else []
    if args.compare_kubectl:
        failures += compare_with_kubectl(args.directory, docs)
    if args.json:
        print(json.dumps(docs, indent=1))
    else:
        print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""What a person should do, per cause: the ticket draft, with commands that work when pasted.

Pure. The `remediate` function puts a draft in every outcome; `notify` renders it for chat
and for the ticket system.

Every value an event carries is data, never code, in what a person pastes: each enters a
shell command as one word (`sh`), a Terraform snippet as one string literal (`hcl`), and an
image string the reference grammar rejects enters no command at all (its placeholder
`IMAGE` does). Anyone with `logging.logEntries.create` can write the event.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from pullfix.core.causes import Cause
from pullfix.core.imageref import ImageRef, InvalidReference, parse_image

__all__ = ["Context", "hcl", "image_word", "sh", "terraform_member", "ticket_draft"]

_SHELL_SAFE_RE = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")  # shlex.quote's own safe set
# kubectl create secret docker-registry's default server: Docker Hub's credential key.
_DOCKER_HUB_SERVER = "https://index.docker.io/v1/"

_FETCH_NODE_CREDENTIAL = (  # the node's own access token, from the metadata server
    "TOKEN=$(curl -s -H 'Metadata-Flavor: Google' "
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
    " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
)


@dataclass(frozen=True)
class Context:
    """The facts a remediation names (None where unknown)."""

    cause: Cause
    project: str | None = None
    location: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    workload: str | None = None
    node: str | None = None
    image: str | None = None
    repository: str | None = None  # projects/P/locations/L/repositories/R
    node_pool: str | None = None
    account: str | None = None
    node_version: str | None = None
    google_image: bool = False
    grant: dict[str, str] | None = None
    dry_run: bool = False
    escalation: bool = False
    lacks_reader: bool = False  # the node account also lacks the reader role (access check)
    # The VPC Service Controls denial's perimeter (accessPolicies/N/servicePerimeters/NAME),
    # the rule that would allow the pull ("ingress" or "egress") and its target resource.
    perimeter: str | None = None
    vpc_sc_direction: str | None = None
    vpc_sc_target: str | None = None
    # What the troubleshooter said of principal access boundary policies (the access
    # verdict's `boundary`): a `permission` ticket then names the boundary's fix.
    boundary: tuple[str, ...] = ()
    # The repository's customer-managed key, its primary version's state, and Artifact
    # Registry's service agent when it lacks the Encrypter/Decrypter role (cmek).
    kms_key: str | None = None
    kms_key_state: str | None = None
    kms_agent: str | None = None


def sh(value: str) -> str:
    """`value` as one shell word that bash reads back byte for byte, and that shows every
    character it holds: printable ASCII in single quotes (`shlex.quote`); anything else
    (newlines, control, bidi and zero-width characters) in ANSI-C quotes, each byte
    outside printable ASCII spelled `\\xHH`, so a pasted command hides nothing."""
    if _SHELL_SAFE_RE.fullmatch(value):
        return value
    if all(" " <= ch <= "~" for ch in value):
        return shlex.quote(value)
    out = []
    for ch in value:
        if ch in "\\'":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\x{byte:02x}" for byte in ch.encode("utf-8", "surrogatepass"))
    return "$'" + "".join(out) + "'"


def hcl(value: str) -> str:
    """`value` as a Terraform (HCL) quoted string literal: quotes, backslashes and control
    characters escaped, and the template sequences `${` and `%{` doubled (`$${`, `%%{`), so
    the snippet interpolates nothing and runs no directive."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif " " <= ch <= "~" or (ch.isprintable() and ord(ch) > 0x7F and ord(ch) <= 0xFFFF):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    text = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{text}"'


def _q(value: str | None, placeholder: str) -> str:
    return sh(value) if value else placeholder


def _ref(image: str | None) -> ImageRef | None:
    """The event's image, when it is a reference; a string the grammar rejects is None and
    enters no command."""
    if not image:
        return None
    try:
        return parse_image(image)
    except InvalidReference:
        return None


def image_word(image: str | None) -> str:
    """The image as one shell word; `IMAGE` when it is no reference."""
    return sh(image) if image and _ref(image) is not None else "IMAGE"


def _repo_parts(repository: str | None) -> tuple[str, str, str]:
    if repository:
        parts = repository.split("/")
        if len(parts) == 6:
            return parts[1], parts[3], parts[5]
    return "REPOSITORY_PROJECT", "LOCATION", "REPOSITORY"


def _cluster_flags(c: Context) -> str:
    return (
        f"--cluster={_q(c.cluster, 'CLUSTER')} --location={_q(c.location, 'LOCATION')} "
        f"--project={_q(c.project, 'PROJECT')}"
    )


def terraform_member(c: Context) -> str:
    """A Terraform resource that codifies the reader grant, so it does not drift."""
    project, location, repo = _repo_parts(c.repository)
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    label = re.sub(r"[^a-z0-9_]", "_", f"{repo}_{(c.account or 'node').split('@')[0]}".lower())
    if label[0].isdigit():  # an identifier starts with a letter or an underscore
        label = f"_{label}"
    if c.grant and c.grant["resource"].count("/") == 1:
        return (
            f'resource "google_project_iam_member" "{label}_ar_reader" {{\n'
            f"  project = {hcl(project)}\n"
            '  role    = "roles/artifactregistry.reader"\n'
            f"  member  = {hcl(member)}\n"
            "}\n"
        )
    return (
        f'resource "google_artifact_registry_repository_iam_member" "{label}_reader" {{\n'
        f"  project    = {hcl(project)}\n"
        f"  location   = {hcl(location)}\n"
        f"  repository = {hcl(repo)}\n"
        '  role       = "roles/artifactregistry.reader"\n'
        f"  member     = {hcl(member)}\n"
        "}\n"
    )


def _grant_command(c: Context) -> str:
    project, location, repo = _repo_parts(c.repository)
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    return (
        f"gcloud artifacts repositories add-iam-policy-binding {sh(repo)} "
        f"--project={sh(project)} --location={sh(location)} "
        f"--member={sh(member)} --role=roles/artifactregistry.reader"
    )


def _reproduce(c: Context) -> str:
    node = _q(c.node, "NODE")
    image = image_word(c.image)
    zone = (
        f"$(gcloud compute instances list --project={_q(c.project, 'PROJECT')} "
        f"--filter=name={node} --format='value(zone)')"
    )
    ssh = f"gcloud compute ssh {node} --project={_q(c.project, 'PROJECT')} --zone={zone}"
    if c.google_image:
        return (
            f"{ssh}\n# then, on the node (private repository: the node's own token):\n"
            f'{_FETCH_NODE_CREDENTIAL}\nsudo crictl pull --creds "oauth2accesstoken:$TOKEN" {image}'
        )
    return f"{ssh}\n# then, on the node:\nsudo crictl pull {image}"


Advice = tuple[list[str], list[str], str | None]  # steps, commands, terraform


def _grant_advice(c: Context) -> Advice:
    who = c.account or "the node service account"
    steps = [f"Grant {who} roles/artifactregistry.reader on {c.repository or 'the repository'}."]
    if c.cause is Cause.CROSS_PROJECT:
        steps.append(
            "The repository is in another project than the cluster: the grant must be "
            "made there, by someone who administers that repository."
        )
    if c.grant:
        steps = [
            f"pullfix {'would grant' if c.dry_run else 'granted'} {c.grant['role']} on "
            f"{c.grant['resource']} to {c.grant['member']}. Codify it in Terraform so it "
            "does not drift (below)."
        ]
    return steps, [_grant_command(c)], terraform_member(c)


def _scope_advice(c: Context) -> Advice:
    pool = c.node_pool or "POOL"
    account = f" --service-account={sh(c.account)}" if c.account else ""
    label = sh(f"cloud.google.com/gke-nodepool={pool}")
    return (
        [
            f"Node pool {pool} lacks a storage-read OAuth scope; scopes cannot change on existing "
            "nodes.",
            "Create a node pool with the scopes, move the workloads, delete the old pool.",
        ],
        [
            f"gcloud container node-pools create {sh(pool + '-storage')} "
            f"{_cluster_flags(c)}{account} --scopes=gke-default",
            f"kubectl cordon -l {label}",
            f"kubectl drain -l {label} --ignore-daemonsets --delete-emptydir-data",
            f"gcloud container node-pools delete {sh(pool)} {_cluster_flags(c)}",
        ],
        None,
    )


def _version_advice(c: Context) -> Advice:
    flags = f"--location={_q(c.location, 'LOCATION')} --project={_q(c.project, 'PROJECT')}"
    cluster = _q(c.cluster, "CLUSTER")
    ref = _ref(c.image)
    server = sh(ref.registry) if ref is not None else "LOCATION-docker.pkg.dev"
    return (
        [
            f"Node version {c.node_version or '?'} predates built-in Artifact Registry access "
            "(1.14.10-gke.22, 1.15.9-gke.8 and later have it). Upgrade, or use imagePullSecrets."
        ],
        [
            f"gcloud container clusters upgrade {cluster} --master {flags}",
            f"gcloud container clusters upgrade {cluster} --node-pool={_q(c.node_pool, 'POOL')} "
            f"{flags}",
            "# or, until then, an imagePullSecret for the namespace:\n"
            "kubectl create secret docker-registry ar-pull "
            f"--namespace={_q(c.namespace, 'NAMESPACE')} "
            f"--docker-server={server} --docker-username=_json_key "
            '--docker-password="$(cat key.json)"',
        ],
        None,
    )


def _not_found_advice(c: Context) -> Advice:
    commands = []
    ref = _ref(c.image)
    if c.google_image and ref is not None:
        commands.append(f"gcloud artifacts docker tags list {sh(ref.name)}")
    return (
        [
            f"{c.image or 'The image'} does not exist: check the tag and the repository, or "
            "push the image."
        ],
        commands,
        None,
    )


_PAB_RE = re.compile(
    r"organizations/([0-9]+)/locations/global/principalAccessBoundaryPolicies/([a-z][a-z0-9-]*)"
)


def _boundary_advice(c: Context) -> Advice:
    """A rule that makes the repository's project eligible, added to each boundary policy."""
    project, _, _ = _repo_parts(c.repository)
    resource = f"//cloudresourcemanager.googleapis.com/projects/{project}"
    steps = [
        "A principal access boundary policy makes the node account ineligible for the "
        f"repository in {project}, whatever roles it holds: no grant fixes that. Add a rule "
        "that includes the project (or its folder or organization) to the policy, or bind the "
        "account's principal set to a policy that does.",
        *c.boundary,
    ]
    commands, rules = [], []
    for org, policy in dict.fromkeys(_PAB_RE.findall(" ".join(c.boundary))):
        commands.append(
            f"gcloud iam principal-access-boundary-policies describe {sh(policy)} "
            f"--organization={org} --location=global"
        )
        commands.append(
            f"gcloud iam principal-access-boundary-policies update {sh(policy)} "
            f"--organization={org} --location=global "
            f"--add-details-rules={sh(f'effect=ALLOW,resources={resource}')}"
        )
        rules.append(policy)
    if c.lacks_reader:
        steps.append(
            f"The node account {c.account or '?'} also lacks roles/artifactregistry.reader on "
            "the repository: grant it as well."
        )
        commands.append(_grant_command(c))
    terraform = None
    if rules:
        terraform = (
            "# in each google_iam_principal_access_boundary_policy above "
            f"({', '.join(hcl(r) for r in rules)}), its details block:\n"
            "rules {\n"
            '  effect    = "ALLOW"\n'
            f"  resources = [{hcl(resource)}]\n"
            "}\n"
        )
    return steps, commands, terraform


def _permission_advice(c: Context) -> Advice:
    if c.boundary:
        return _boundary_advice(c)
    project, _, _ = _repo_parts(c.repository)
    return (
        [
            "Access is denied although no missing role explains it: look for an IAM deny policy, "
            "a VPC Service Controls perimeter or an organization policy."
        ],
        [
            "gcloud iam policies list --kind=denypolicies --attachment-point="
            + sh(f"cloudresourcemanager.googleapis.com/projects/{project}")
        ],
        None,
    )


def _api_disabled_advice(c: Context) -> Advice:
    project, _, _ = _repo_parts(c.repository)
    steps = [
        f"The Artifact Registry API is disabled in project {project}, which holds "
        f"{c.repository or 'the repository'}: every pull from it is refused, and no role "
        "grant fixes that. Enable the API (and keep it enabled in Terraform)."
    ]
    commands = [f"gcloud services enable artifactregistry.googleapis.com --project={sh(project)}"]
    if c.lacks_reader:
        steps.append(
            f"The node account {c.account or '?'} also lacks roles/artifactregistry.reader on "
            "the repository: grant it as well."
        )
        commands.append(_grant_command(c))
    terraform = (
        'resource "google_project_service" "artifactregistry" {\n'
        f"  project            = {hcl(project)}\n"
        '  service            = "artifactregistry.googleapis.com"\n'
        "  disable_on_destroy = false\n"
        "}\n"
    )
    if c.lacks_reader:
        terraform += "\n" + terraform_member(c)
    return steps, commands, terraform


def _vpc_sc_advice(c: Context) -> Advice:
    """The ingress (or egress) rule that lets the node account pull from the registry."""
    egress = c.vpc_sc_direction == "egress"
    project, _, _ = _repo_parts(c.repository)
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    target = c.vpc_sc_target or "projects/REPOSITORY_PROJECT_NUMBER"
    policy, name = "POLICY_ID", "PERIMETER"
    match = re.fullmatch(
        r"accessPolicies/([0-9]+)/servicePerimeters/([A-Za-z0-9_]+)", c.perimeter or ""
    )
    if match:
        policy, name = match.group(1), match.group(2)
    source = "projects/CLUSTER_PROJECT_NUMBER"
    kind = "egress" if egress else "ingress"
    # gcloud's YAML: one policy, each value a JSON string (quoted for YAML as for HCL).
    if egress:
        rule = (
            "- egressFrom:\n"
            f"    identities: [{hcl(member)}]\n"
            "  egressTo:\n"
            f"    resources: [{hcl(target)}]\n"
            "    operations:\n"
            '    - serviceName: "artifactregistry.googleapis.com"\n'
            '      methodSelectors: [{method: "*"}]\n'
        )
        block = (
            "egress_policies {\n"
            f"  egress_from {{\n    identities = [{hcl(member)}]\n  }}\n"
            f"  egress_to {{\n    resources = [{hcl(target)}]\n"
            '    operations {\n      service_name = "artifactregistry.googleapis.com"\n'
            '      method_selectors {\n        method = "*"\n      }\n    }\n  }\n}\n'
        )
    else:
        rule = (
            "- ingressFrom:\n"
            f"    identities: [{hcl(member)}]\n"
            f"    sources: [{{resource: {hcl(source)}}}]\n"
            "  ingressTo:\n"
            f"    resources: [{hcl(target)}]\n"
            "    operations:\n"
            '    - serviceName: "artifactregistry.googleapis.com"\n'
            '      methodSelectors: [{method: "*"}]\n'
        )
        block = (
            "ingress_policies {\n"
            f"  ingress_from {{\n    identities = [{hcl(member)}]\n"
            f"    sources {{\n      resource = {hcl(source)}\n    }}\n  }}\n"
            f"  ingress_to {{\n    resources = [{hcl(target)}]\n"
            '    operations {\n      service_name = "artifactregistry.googleapis.com"\n'
            '      method_selectors {\n        method = "*"\n      }\n    }\n  }\n}\n'
        )
    steps = [
        f"VPC Service Controls perimeter {c.perimeter or 'PERIMETER'} refuses the pull: no role "
        f"grant fixes that. Add an {kind} rule that lets {c.account or 'the node account'} "
        f"call Artifact Registry in {target}"
        + ("" if egress else f" from the cluster's project ({c.project or 'PROJECT'})")
        + ". --set-"
        + kind
        + "-policies replaces the perimeter's "
        + kind
        + " policies: "
        "add this rule to the ones `perimeters describe` lists.",
    ]
    commands = [
        f"gcloud access-context-manager perimeters describe {sh(name)} --policy={sh(policy)}",
        f"gcloud projects describe {_q(c.project, 'PROJECT')} --format='value(projectNumber)'"
        "  # CLUSTER_PROJECT_NUMBER",
        f"cat > {kind}.yaml <<'EOF'\n{rule}EOF",
        f"gcloud access-context-manager perimeters update {sh(name)} --policy={sh(policy)} "
        f"--set-{kind}-policies={kind}.yaml",
    ]
    if c.lacks_reader:
        steps.append(
            f"The node account {c.account or '?'} also lacks roles/artifactregistry.reader on "
            f"the repository in {project}: grant it as well."
        )
        commands.append(_grant_command(c))
    terraform = (
        f"# in google_access_context_manager_service_perimeter for {hcl(c.perimeter or name)}, "
        "its status block:\n" + block
    )
    if c.lacks_reader:
        terraform += "\n" + terraform_member(c)
    return steps, commands, terraform


def _cmek_advice(c: Context) -> Advice:
    parts = (c.kms_key or "").split("/")
    if len(parts) == 8:
        key_project, location, ring, key = parts[1], parts[3], parts[5], parts[7]
    else:
        key_project, location, ring, key = "KEY_PROJECT", "LOCATION", "KEY_RING", "KEY"
    flags = f"--keyring={sh(ring)} --location={sh(location)} --project={sh(key_project)}"
    steps: list[str] = []
    commands: list[str] = []
    terraform = None
    state = c.kms_key_state
    if state and state != "ENABLED":
        steps.append(
            f"{c.repository or 'The repository'} is encrypted with {c.kms_key or 'a key'}, whose "
            f"primary version is {state}: no role grant fixes that."
        )
        commands.append(f"gcloud kms keys versions list --key={sh(key)} {flags}")
        if state == "DISABLED":
            commands.append(f"gcloud kms keys versions enable VERSION --key={sh(key)} {flags}")
        elif state == "DESTROY_SCHEDULED":
            commands.append(f"gcloud kms keys versions restore VERSION --key={sh(key)} {flags}")
            commands.append(f"gcloud kms keys versions enable VERSION --key={sh(key)} {flags}")
        else:
            steps.append(
                "A destroyed version cannot be restored: what it encrypted is lost. Push the "
                "images again to a new repository."
            )
    else:
        agent = (
            c.kms_agent or "service-PROJECT_NUMBER@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        )
        member = f"serviceAccount:{agent}"
        steps.append(
            f"Artifact Registry's service agent {agent} may not use {c.kms_key or 'the key'}: "
            "grant it roles/cloudkms.cryptoKeyEncrypterDecrypter on the key."
        )
        commands.append(
            f"gcloud kms keys add-iam-policy-binding {sh(key)} {flags} --member={sh(member)} "
            "--role=roles/cloudkms.cryptoKeyEncrypterDecrypter"
        )
        terraform = (
            'resource "google_kms_crypto_key_iam_member" "artifact_registry_agent" {\n'
            f"  crypto_key_id = {hcl(c.kms_key or 'KEY')}\n"
            '  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"\n'
            f"  member        = {hcl(member)}\n"
            "}\n"
        )
    if c.lacks_reader:
        steps.append(
            f"The node account {c.account or '?'} also lacks roles/artifactregistry.reader on "
            "the repository: grant it as well."
        )
        commands.append(_grant_command(c))
        terraform = (terraform + "\n" if terraform else "") + terraform_member(c)
    return steps, commands, terraform


def _rate_limit_advice(c: Context) -> Advice:
    return (
        [
            "The registry throttles pulls: authenticate to it, or mirror the image through an "
            "Artifact Registry remote repository."
        ],
        [
            "gcloud artifacts repositories create dockerhub-mirror --repository-format=docker "
            "--mode=remote-repository --remote-docker-repo=DOCKER-HUB "
            f"--location={_q(c.location, 'LOCATION')} --project={_q(c.project, 'PROJECT')}"
        ],
        None,
    )


def _auth_config_advice(c: Context) -> Advice:
    ref = _ref(c.image)
    server = "REGISTRY"
    if ref is not None:
        server = _DOCKER_HUB_SERVER if ref.registry == "docker.io" else sh(ref.registry)
    return (
        [
            "The registry needs credentials the node does not have: add an imagePullSecret to the "
            "workload (or its service account)."
        ],
        [
            "kubectl create secret docker-registry regcred "
            f"--namespace={_q(c.namespace, 'NAMESPACE')} "
            f"--docker-server={server} "
            "--docker-username=USER --docker-password=PASSWORD"
        ],
        None,
    )


def _text(*steps: str) -> Any:
    return lambda c: ([s.format(c=c) for s in steps], [], None)


_ADVICE: dict[Cause, Any] = {
    Cause.ROLE: _grant_advice,
    Cause.CROSS_PROJECT: _grant_advice,
    Cause.SCOPE: _scope_advice,
    Cause.VERSION: _version_advice,
    Cause.SERVICE_ACCOUNT: lambda c: (
        [
            f"The node service account {c.account or '?'} is disabled or deleted: enable it, "
            "undelete it (within 30 days), or move the workloads to a pool with a working account."
        ],
        [f"gcloud iam service-accounts enable {_q(c.account, 'NODE_SA_EMAIL')}"],
        None,
    ),
    Cause.NOT_FOUND: _not_found_advice,
    Cause.PERMISSION: _permission_advice,
    Cause.RATE_LIMIT: _rate_limit_advice,
    Cause.AUTH_CONFIG: _auth_config_advice,
    Cause.UNVERIFIED: _text(
        "The event names a cluster, node pool or account that the Google APIs do not confirm. "
        "Anyone with logging.logEntries.create can write such an entry: check its origin "
        "before acting."
    ),
    Cause.NETWORK: _text(
        "The node could not reach the registry: check DNS, firewall egress, Cloud NAT and "
        "Private Google Access for private clusters."
    ),
    Cause.INVALID_NAME: _text(
        "The image reference {c.image} is malformed: fix it in the workload spec (lowercase "
        "repository, no scheme, a valid tag or digest)."
    ),
    Cause.PLATFORM: _text(
        "The image has no variant for the node's OS/architecture: build a multi-arch image, or "
        "schedule onto matching nodes (kubernetes.io/arch)."
    ),
    Cause.PULL_POLICY: _text(
        "imagePullPolicy is Never and the image is not on the node: use IfNotPresent, or "
        "pre-load the image."
    ),
    Cause.NODE_DISK: _text(
        "The node ran out of disk while storing or unpacking layers: free space or use larger "
        "boot disks (a new node pool with --disk-size)."
    ),
    Cause.API_DISABLED: _api_disabled_advice,
    Cause.VPC_SC: _vpc_sc_advice,
    Cause.CMEK: _cmek_advice,
}
_NO_REPRODUCTION = frozenset({Cause.UNVERIFIED, Cause.INVALID_NAME, Cause.PULL_POLICY})


def ticket_draft(c: Context) -> dict[str, Any]:
    """Title, steps, commands (and a Terraform snippet for grants) for one outcome."""
    advice = _ADVICE.get(c.cause) or _text(
        "The message does not say why the pull failed: reproduce it on the node."
    )
    steps, commands, terraform = advice(c)
    where = f"{c.namespace or '?'}/{c.workload or '?'} in {c.cluster or 'an unconfirmed cluster'}"
    image = c.image or "an image"
    title = f"[pullfix] {c.cause.value}: {image} for {where}"
    if c.escalation:
        steps.insert(
            0,
            "pullfix granted access earlier, but the pulls still fail past the grace "
            "period: the grant did not fix it.",
        )
        title = f"[pullfix] grant did not fix it: {image} for {where}"
    return {
        "title": title,
        "steps": steps,
        "commands": commands,
        "terraform": terraform,
        "reproduce": None if c.cause in _NO_REPRODUCTION else _reproduce(c),
    }

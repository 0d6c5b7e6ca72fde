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
from pullfix.core.model import NetworkGap

__all__ = [
    "Context",
    "escalation_ticket",
    "hcl",
    "image_word",
    "sh",
    "terraform_member",
    "ticket_draft",
]

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
    # The pieces the network check found missing from the pool's path (`network`).
    network_gaps: tuple[NetworkGap, ...] = ()
    autopilot: bool = False  # the cluster is Autopilot: GKE owns its node pools
    image_streaming: bool = False  # the node pool streams images (GKE gcfsConfig)
    windows: bool = False  # the node pool runs Windows Server
    image_size_bytes: int | None = None  # the image's size, from Artifact Registry
    lacks_reader: bool = False  # the node account also lacks the reader role (access check)
    # The VPC Service Controls denial's perimeter (accessPolicies/N/servicePerimeters/NAME),
    # the rule that would allow the pull ("ingress" or "egress") and its target resource.
    perimeter: str | None = None
    vpc_sc_direction: str | None = None
    vpc_sc_target: str | None = None
    # A remote repository the perimeter cuts off from its upstream: `projects/P/locations/L`
    # whose Artifact Registry VPC Service Controls setting is DENY (remote_vpcsc).
    vpcsc_config: str | None = None
    # What the troubleshooter said of principal access boundary policies (the access
    # verdict's `boundary`): a `permission` ticket then names the boundary's fix.
    boundary: tuple[str, ...] = ()
    # The repository's customer-managed key, its primary version's state, and Artifact
    # Registry's service agent when it lacks the Encrypter/Decrypter role (cmek).
    kms_key: str | None = None
    kms_key_state: str | None = None
    kms_agent: str | None = None
    # A remote repository's upstream password version, its state, Artifact Registry's service
    # agent and whether it may access the secret (upstream).
    upstream_secret: str | None = None
    upstream_secret_state: str | None = None
    upstream_agent: str | None = None
    upstream_agent_can_access: bool | None = None
    # A virtual repository's upstreams that Artifact Registry's service agent may not read.
    upstream_repositories: tuple[str, ...] = ()


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


def _granted_project(c: Context) -> str | None:
    """The project of a project-level grant (`auto_grant.level: project`, a resource
    `projects/P`), or None for a grant on the repository: the command and the Terraform
    both read the level here."""
    if c.grant and c.grant["resource"].count("/") == 1:
        return c.grant["resource"].split("/")[1]
    return None


def terraform_member(c: Context) -> str:
    """A Terraform resource that codifies the reader grant, so it does not drift."""
    project, location, repo = _repo_parts(c.repository)
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    label = re.sub(r"[^a-z0-9_]", "_", f"{repo}_{(c.account or 'node').split('@')[0]}".lower())
    if label[0].isdigit():  # an identifier starts with a letter or an underscore
        label = f"_{label}"
    granted_project = _granted_project(c)
    if granted_project is not None:
        return (
            f'resource "google_project_iam_member" "{label}_ar_reader" {{\n'
            f"  project = {hcl(granted_project)}\n"
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


def _grant_the_reader_too(
    c: Context, steps: list[str], commands: list[str], where: str = "the repository"
) -> bool:
    """Where the node account also lacks the reader role beside a cause no grant fixes (the
    ticket names both): its step and command, added; whether they were."""
    if not c.lacks_reader:
        return False
    steps.append(
        f"The node account {c.account or '?'} also lacks roles/artifactregistry.reader on "
        f"{where}: grant it as well."
    )
    commands.append(_grant_command(c))
    return True


def _with_the_reader(c: Context, terraform: str | None) -> str | None:
    """`terraform`, followed by the reader grant's where the node account lacks it too."""
    if not c.lacks_reader:
        return terraform
    return (terraform + "\n" if terraform else "") + terraform_member(c)


def _grant_command(c: Context) -> str:
    project, location, repo = _repo_parts(c.repository)
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    granted_project = _granted_project(c)
    if granted_project is not None:
        return (
            f"gcloud projects add-iam-policy-binding {sh(granted_project)} "
            f"--member={sh(member)} --role=roles/artifactregistry.reader"
        )
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


# Autopilot: GKE creates, sizes and deletes the node pools, from the cluster's auto-provisioning
# defaults. The nodes' account and scopes are chosen when the cluster is created (`gcloud
# container clusters create-auto --service-account --scopes`:
# https://cloud.google.com/kubernetes-engine/docs/how-to/creating-an-autopilot-cluster), and
# access scopes cannot be modified on existing node pools
# (https://cloud.google.com/kubernetes-engine/docs/how-to/access-scopes), which in Autopilot
# are GKE's, not the user's to recreate. So the fix is an Autopilot cluster created with them,
# never a node pool.
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _autopilot_cluster(c: Context, account: str | None) -> tuple[str, str]:
    """The `create-auto` command and the Terraform cluster for a new Autopilot cluster whose
    nodes run as `account` (the default one when None) with the cloud-platform scope."""
    name = f"{c.cluster or 'CLUSTER'}-2"
    flags = f"--location={_q(c.location, 'LOCATION')} --project={_q(c.project, 'PROJECT')}"
    who = f" --service-account={sh(account)}" if account else ""
    command = (
        f"gcloud container clusters create-auto {sh(name)} {flags}{who} --scopes=cloud-platform"
    )
    label = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if label[0].isdigit():
        label = f"_{label}"
    account_line = f"      service_account = {hcl(account)}\n" if account else ""
    terraform = (
        f'resource "google_container_cluster" "{label}" {{\n'
        f"  project          = {hcl(c.project or 'PROJECT')}\n"
        f"  location         = {hcl(c.location or 'LOCATION')}\n"
        f"  name             = {hcl(name)}\n"
        "  enable_autopilot = true\n"
        "  cluster_autoscaling {\n"
        "    auto_provisioning_defaults {\n"
        f"{account_line}"
        f'      oauth_scopes    = ["{_CLOUD_PLATFORM}"]\n'
        "    }\n"
        "  }\n"
        "}\n"
    )
    return command, terraform


def _autopilot_scope_advice(c: Context) -> Advice:
    command, terraform = _autopilot_cluster(c, c.account)
    return (
        [
            f"Cluster {c.cluster or '?'} is Autopilot: GKE makes its node pools from the "
            "cluster's auto-provisioning defaults, whose OAuth scopes lack storage read. They "
            "were set when the cluster was created, existing nodes keep them, and the node "
            "pools are GKE's: there is none of yours to add or recreate.",
            "Create an Autopilot cluster with the cloud-platform scope (the default for a "
            "custom node account when no --scopes is given), move the workloads to it, delete "
            "the old cluster.",
        ],
        [command],
        terraform,
    )


def _scope_advice(c: Context) -> Advice:
    if c.autopilot:
        return _autopilot_scope_advice(c)
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
    _grant_the_reader_too(c, steps, commands)
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


def _region(location: str | None) -> str | None:
    """The region of a cluster's location: a zonal cluster's zone less its letter (Artifact
    Registry repositories live in regions)."""
    if location and re.fullmatch(r"[a-z]+-[a-z]+\d+-[a-z]", location):
        return location.rsplit("-", 1)[0]
    return location


def _api_disabled_advice(c: Context) -> Advice:
    project, _, _ = _repo_parts(c.repository)
    steps = [
        f"The Artifact Registry API is disabled in project {project}, which holds "
        f"{c.repository or 'the repository'}: every pull from it is refused, and no role "
        "grant fixes that. Enable the API (and keep it enabled in Terraform)."
    ]
    commands = [f"gcloud services enable artifactregistry.googleapis.com --project={sh(project)}"]
    _grant_the_reader_too(c, steps, commands)
    terraform = (
        'resource "google_project_service" "artifactregistry" {\n'
        f"  project            = {hcl(project)}\n"
        '  service            = "artifactregistry.googleapis.com"\n'
        "  disable_on_destroy = false\n"
        "}\n"
    )
    return steps, commands, _with_the_reader(c, terraform)


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
    setting: Advice = ([], [], None)
    if c.vpcsc_config:
        setting = _vpcsc_config_advice(c.vpcsc_config, c.repository)
    steps = [
        *setting[0],
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
        *setting[1],
        f"gcloud access-context-manager perimeters describe {sh(name)} --policy={sh(policy)}",
        f"gcloud projects describe {_q(c.project, 'PROJECT')} --format='value(projectNumber)'"
        "  # CLUSTER_PROJECT_NUMBER",
        f"cat > {kind}.yaml <<'EOF'\n{rule}EOF",
        f"gcloud access-context-manager perimeters update {sh(name)} --policy={sh(policy)} "
        f"--set-{kind}-policies={kind}.yaml",
    ]
    _grant_the_reader_too(c, steps, commands, f"the repository in {project}")
    terraform = (setting[2] + "\n" if setting[2] else "") + (
        f"# in google_access_context_manager_service_perimeter for {hcl(c.perimeter or name)}, "
        "its status block:\n" + block
    )
    return steps, commands, _with_the_reader(c, terraform)


def _vpcsc_config_advice(config: str, repository: str | None) -> Advice:
    """Artifact Registry's VPC Service Controls setting for remote repositories set to ALLOW
    (https://cloud.google.com/artifact-registry/docs/repositories/remote-repo#vpc; gcloud
    `artifacts vpcsc-config allow`, https://cloud.google.com/sdk/gcloud/reference/artifacts/
    vpcsc-config/allow; Terraform `google_artifact_registry_vpcsc_config`, google-beta)."""
    parts = config.split("/")
    project, location = (parts[1], parts[3]) if len(parts) == 4 else ("PROJECT", "LOCATION")
    return (
        [
            f"{repository or 'The remote repository'} is in a service perimeter and Artifact "
            f"Registry's VPC Service Controls setting for remote repositories in {project} "
            f"({location}) is DENY: allow them to fetch from upstreams outside the perimeter "
            "(this lets every remote repository of that project and location do so)."
        ],
        [f"gcloud artifacts vpcsc-config allow --project={sh(project)} --location={sh(location)}"],
        'resource "google_artifact_registry_vpcsc_config" "remote_upstreams" {\n'
        "  provider     = google-beta\n"
        f"  project      = {hcl(project)}\n"
        f"  location     = {hcl(location)}\n"
        '  vpcsc_policy = "ALLOW"\n'
        "}\n",
    )


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
    _grant_the_reader_too(c, steps, commands)
    terraform = _with_the_reader(c, terraform)
    return steps, commands, terraform


def _upstream_advice(c: Context) -> Advice:
    """The remote repository's password version enabled (or a new one added), or Artifact
    Registry's service agent granted the Secret Accessor role on the secret
    (https://cloud.google.com/artifact-registry/docs/repositories/configure-remote-authentication).
    Never a role for the node account: the registry, not the node, reads the secret."""
    if c.upstream_repositories and not c.upstream_secret:
        return _virtual_upstream_advice(c)
    parts = (c.upstream_secret or "").split("/")
    if len(parts) == 6:
        project, secret, version = parts[1], parts[3], parts[5]
    else:
        project, secret, version = "SECRET_PROJECT", "SECRET", "VERSION"
    repository = c.repository or "The remote repository"
    steps: list[str] = []
    commands: list[str] = []
    terraform = None
    state = c.upstream_secret_state
    unusable = state is not None and state != "ENABLED"
    if unusable:
        what = f"is {state}" if state else "does not exist"
        steps.append(
            f"{repository} authenticates to its upstream with the password in "
            f"{c.upstream_secret or 'a Secret Manager secret version'}, which {what}: Artifact "
            "Registry cannot fetch what it does not cache yet. No role grant fixes that."
        )
        if state == "DISABLED":
            commands.append(
                f"gcloud secrets versions enable {sh(version)} --secret={sh(secret)} "
                f"--project={sh(project)}"
            )
        else:
            steps.append(
                "Add a new version holding the upstream password (a destroyed version cannot "
                "come back), and point the repository at it."
            )
            commands.append(
                f"gcloud secrets versions add {sh(secret)} --project={sh(project)} "
                "--data-file=PASSWORD_FILE"
            )
    if not unusable or c.upstream_agent_can_access is False:
        agent = (
            c.upstream_agent
            or "service-PROJECT_NUMBER@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        )
        member = f"serviceAccount:{agent}"
        steps.append(
            f"Artifact Registry's service agent {agent} may not access the secret "
            f"{secret} that holds {repository}'s upstream password: grant it "
            "roles/secretmanager.secretAccessor on the secret."
        )
        commands.append(
            f"gcloud secrets add-iam-policy-binding {sh(secret)} --project={sh(project)} "
            f"--member={sh(member)} --role=roles/secretmanager.secretAccessor"
        )
        terraform = (
            'resource "google_secret_manager_secret_iam_member" "artifact_registry_agent" {\n'
            f"  project   = {hcl(project)}\n"
            f"  secret_id = {hcl(secret)}\n"
            '  role      = "roles/secretmanager.secretAccessor"\n'
            f"  member    = {hcl(member)}\n"
            "}\n"
        )
    _grant_the_reader_too(c, steps, commands)
    terraform = _with_the_reader(c, terraform)
    return steps, commands, terraform


def _virtual_upstream_advice(c: Context) -> Advice:
    """Artifact Registry's service agent of the virtual repository's project granted the
    reader role on each upstream it may not read
    (https://cloud.google.com/artifact-registry/docs/repositories/virtual-repo). Never a role
    for the node account: the registry reads the upstreams, not the node."""
    agent = (
        c.upstream_agent or "service-PROJECT_NUMBER@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    )
    member = f"serviceAccount:{agent}"
    steps = [
        f"{c.repository or 'The virtual repository'} serves images from its upstream "
        "repositories as Artifact Registry's service agent "
        f"{agent}, which may not read {', '.join(c.upstream_repositories)}: grant it "
        "roles/artifactregistry.reader on each. No role for the node account fixes that."
    ]
    commands: list[str] = []
    blocks: list[str] = []
    for index, upstream in enumerate(c.upstream_repositories):
        parts = upstream.split("/")
        if len(parts) == 6:
            project, location, repository = parts[1], parts[3], parts[5]
        else:
            project, location, repository = "PROJECT", "LOCATION", "REPOSITORY"
        commands.append(
            f"gcloud artifacts repositories add-iam-policy-binding {sh(repository)} "
            f"--location={sh(location)} --project={sh(project)} --member={sh(member)} "
            "--role=roles/artifactregistry.reader"
        )
        blocks.append(
            'resource "google_artifact_registry_repository_iam_member" '
            f'"artifact_registry_agent_upstream_{index}" {{\n'
            f"  project    = {hcl(project)}\n"
            f"  location   = {hcl(location)}\n"
            f"  repository = {hcl(repository)}\n"
            '  role       = "roles/artifactregistry.reader"\n'
            f"  member     = {hcl(member)}\n"
            "}\n"
        )
    if _grant_the_reader_too(c, steps, commands):
        blocks.append(terraform_member(c))
    return steps, commands, "\n".join(blocks) or None


def _rate_limit_advice(c: Context) -> Advice:
    region = _region(c.location)
    create = (
        "gcloud artifacts repositories create dockerhub-mirror --repository-format=docker "
        "--mode=remote-repository --remote-docker-repo=DOCKER-HUB "
        f"--location={_q(region, 'LOCATION')} --project={_q(c.project, 'PROJECT')}"
    )
    ref = _ref(c.image)
    if ref is None or ref.registry != "docker.io":
        return (
            [
                "The registry throttles pulls: authenticate to it, or mirror the image through "
                "an Artifact Registry remote repository."
            ],
            [create],
            None,
        )
    # Docker Hub's pull rate limit: an Artifact Registry remote repository is a pull-through
    # cache of it (https://cloud.google.com/artifact-registry/docs/repositories/remote-repo;
    # Terraform google_artifact_registry_repository, mode REMOTE_REPOSITORY,
    # remote_repository_config.docker_repository.public_repository DOCKER_HUB).
    mirror = f"{region or 'LOCATION'}-docker.pkg.dev/{c.project or 'PROJECT'}/dockerhub-mirror"
    tail = f":{ref.tag}" if ref.tag else ""
    tail += f"@{ref.digest}" if ref.digest else ""
    mirrored = f"{mirror}/{ref.repository}{tail}"
    member = f"serviceAccount:{c.account}" if c.account else "serviceAccount:NODE_SA_EMAIL"
    return (
        [
            "Docker Hub's pull rate limit refused the pull. Pull it through an Artifact Registry "
            "remote repository (a pull-through cache of Docker Hub) in the cluster's project "
            f"and region, and point the workload at {mirrored}; the node account reads it "
            "with roles/artifactregistry.reader.",
        ],
        [
            create,
            "gcloud artifacts repositories add-iam-policy-binding dockerhub-mirror "
            f"--location={_q(region, 'LOCATION')} --project={_q(c.project, 'PROJECT')} "
            f"--member={sh(member)} --role=roles/artifactregistry.reader",
            f"# then, in the workload, the image as {sh(mirrored)}",
        ],
        'resource "google_artifact_registry_repository" "dockerhub_mirror" {\n'
        f"  project       = {hcl(c.project or 'PROJECT')}\n"
        f"  location      = {hcl(region or 'LOCATION')}\n"
        '  repository_id = "dockerhub-mirror"\n'
        '  format        = "DOCKER"\n'
        '  mode          = "REMOTE_REPOSITORY"\n'
        "  remote_repository_config {\n"
        '    description = "Docker Hub"\n'
        "    docker_repository {\n"
        '      public_repository = "DOCKER_HUB"\n'
        "    }\n"
        "  }\n"
        "}\n",
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


def _tf_label(*parts: str) -> str:
    label = re.sub(r"[^a-z0-9_]", "_", "_".join(parts).lower())
    return label if label[:1].isalpha() else f"_{label}"


def _gap_advice(gap: NetworkGap) -> Advice:
    """One missing piece of the network path: what to do, as gcloud and as Terraform
    (https://cloud.google.com/vpc/docs/configure-private-google-access,
    https://cloud.google.com/nat/docs/set-up-manage-network-address-translation,
    https://cloud.google.com/firewall/docs/using-firewalls)."""
    project, region, network, subnet = gap.project, gap.region, gap.network, gap.subnetwork
    flags = f"--project={sh(project)}"
    if gap.kind == "private_google_access":
        return (
            [
                f"Enable Private Google Access on subnetwork {subnet} ({project}, {region}): "
                "the nodes have only internal addresses."
            ],
            [
                f"gcloud compute networks subnets update {sh(subnet)} {flags} "
                f"--region={sh(region)} --enable-private-ip-google-access"
            ],
            "# on the google_compute_subnetwork that defines the nodes' subnetwork:\n"
            f'resource "google_compute_subnetwork" "{_tf_label(subnet)}" {{\n'
            f"  project                  = {hcl(project)}\n"
            f"  region                   = {hcl(region)}\n"
            f"  name                     = {hcl(subnet)}\n"
            "  private_ip_google_access = true\n"
            "  # ...its other arguments as they are\n"
            "}\n",
        )
    if gap.kind == "cloud_nat":
        router = gap.router or f"{network}-nat-router"
        commands = []
        if not gap.router:
            commands.append(
                f"gcloud compute routers create {sh(router)} {flags} --region={sh(region)} "
                f"--network={sh(network)}"
            )
        commands.append(
            f"gcloud compute routers nats create {sh(subnet + '-nat')} {flags} "
            f"--router={sh(router)} --region={sh(region)} --auto-allocate-nat-external-ips "
            f"--nat-custom-subnet-ip-ranges={sh(subnet)}"
        )
        label = _tf_label(subnet, "nat")
        subnet_path = f"projects/{project}/regions/{region}/subnetworks/{subnet}"
        router_tf = f"{hcl(router)}" if gap.router else f"google_compute_router.{label}.name"
        terraform = (
            ""
            if gap.router
            else (
                f'resource "google_compute_router" "{label}" {{\n'
                f"  project = {hcl(project)}\n"
                f"  region  = {hcl(region)}\n"
                f"  name    = {hcl(router)}\n"
                f"  network = {hcl(network)}\n"
                "}\n\n"
            )
        )
        terraform += (
            f'resource "google_compute_router_nat" "{label}" {{\n'
            f"  project                            = {hcl(project)}\n"
            f"  region                             = {hcl(region)}\n"
            f"  router                             = {router_tf}\n"
            f"  name                               = {hcl(subnet + '-nat')}\n"
            '  nat_ip_allocate_option             = "AUTO_ONLY"\n'
            '  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"\n'
            "  subnetwork {\n"
            f"    name                    = {hcl(subnet_path)}\n"
            '    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]\n'
            "  }\n"
            "}\n"
        )
        return (
            [
                f"Give subnetwork {subnet} ({project}, {region}) a Cloud NAT gateway: its "
                "nodes have only internal addresses, and registries outside Google are on "
                "the internet."
            ],
            commands,
            terraform,
        )
    if gap.kind == "egress_firewall":
        priority = max(gap.priority - 1, 0)
        name = f"allow-registry-egress-{network}"[:63].rstrip("-")
        return (
            [
                f"Firewall rule {gap.detail} (priority {gap.priority}) denies egress tcp:443 "
                f"in network {network}: allow tcp:443 to the registry at a higher priority "
                "(a lower number), narrowed to its address ranges where you can, or change the "
                "rule."
            ],
            [
                f"gcloud compute firewall-rules create {sh(name)} {flags} "
                f"--network={sh(network)} --direction=EGRESS --action=ALLOW --rules=tcp:443 "
                f"--destination-ranges=0.0.0.0/0 --priority={priority}"
            ],
            f'resource "google_compute_firewall" "{_tf_label(name)}" {{\n'
            f"  project            = {hcl(project)}\n"
            f"  name               = {hcl(name)}\n"
            f"  network            = {hcl(network)}\n"
            '  direction          = "EGRESS"\n'
            f"  priority           = {priority}\n"
            '  destination_ranges = ["0.0.0.0/0"]\n'
            "  allow {\n"
            '    protocol = "tcp"\n'
            '    ports    = ["443"]\n'
            "  }\n"
            "}\n",
        )
    if gap.kind in ("dns_record", "dns_address"):
        return _dns_advice(gap)
    vip = gap.detail
    name = ("restricted" if vip.startswith("199.36.153.4") else "private") + "-googleapis"
    return (
        [
            f"Route {vip} to the default internet gateway in network {network}: the "
            "registry's name resolves to that range, which is reached through Private Google "
            "Access only."
        ],
        [
            f"gcloud compute routes create {sh(name)} {flags} --network={sh(network)} "
            f"--destination-range={sh(vip)} --next-hop-gateway=default-internet-gateway"
        ],
        f'resource "google_compute_route" "{_tf_label(name)}" {{\n'
        f"  project          = {hcl(project)}\n"
        f"  name             = {hcl(name)}\n"
        f"  network          = {hcl(network)}\n"
        f"  dest_range       = {hcl(vip)}\n"
        '  next_hop_gateway = "default-internet-gateway"\n'
        "}\n",
    )


def _dns_advice(gap: NetworkGap) -> Advice:
    """The private zone's records that send the registry's names to a Private Google Access
    VIP: for `pkg.dev.` (and `gcr.io.`) an A record at the zone's name with the VIP's four
    addresses and a CNAME `*.` the zone's name to it
    (https://cloud.google.com/vpc/docs/configure-private-google-access#config-domain), as
    `gcloud dns record-sets create` / `update` (https://cloud.google.com/sdk/gcloud/reference/
    dns/record-sets/create) and Terraform's `google_dns_record_set`."""
    verb = "create" if gap.kind == "dns_record" else "update"
    flags = f"--project={sh(gap.project)} --zone={sh(gap.zone)}"
    commands = [
        f"gcloud dns record-sets {verb} {sh(name)} {flags} --type={sh(kind)} --ttl=300 "
        f"--rrdatas={sh(','.join(rrdatas))}"
        for name, kind, rrdatas in gap.records
    ]
    blocks = []
    for name, kind, rrdatas in gap.records:
        label = _tf_label(gap.zone, kind, name.replace("*", "wildcard"))
        values = ", ".join(hcl(value) for value in rrdatas)
        blocks.append(
            (
                "# on the google_dns_record_set that defines it now:\n"
                if gap.kind == "dns_address"
                else ""
            )
            + f'resource "google_dns_record_set" "{label}" {{\n'
            f"  project      = {hcl(gap.project)}\n"
            f"  managed_zone = {hcl(gap.zone)}\n"
            f"  name         = {hcl(name)}\n"
            f"  type         = {hcl(kind)}\n"
            "  ttl          = 300\n"
            f"  rrdatas      = [{values}]\n"
            "}\n"
        )
    if gap.kind == "dns_record":
        step = (
            f"Add the records that send {gap.host} to {gap.detail} to Cloud DNS private zone "
            f"{gap.zone} ({gap.zone_dns_name}, project {gap.project}): it answers for the name "
            f"on network {gap.network} and holds none for it."
        )
    else:
        step = (
            f"Point the record that answers {gap.host} in Cloud DNS private zone {gap.zone} "
            f"({gap.project}) at one VIP's four addresses: it answers {gap.detail}."
        )
    return [step], commands, "\n".join(blocks)


def _network_advice(c: Context) -> Advice:
    if not c.network_gaps:
        return (
            [
                "The node could not reach the registry: check DNS, firewall egress, Cloud NAT "
                "and Private Google Access for private clusters."
            ],
            [],
            None,
        )
    steps: list[str] = []
    commands: list[str] = []
    terraform: list[str] = []
    for gap in c.network_gaps:
        more_steps, more_commands, more_terraform = _gap_advice(gap)
        steps += more_steps
        commands += more_commands
        if more_terraform:
            terraform.append(more_terraform)
    return steps, commands, "\n".join(terraform) or None


def _service_account_advice(c: Context) -> Advice:
    enable = f"gcloud iam service-accounts enable {_q(c.account, 'NODE_SA_EMAIL')}"
    if not c.autopilot:
        return (
            [
                f"The node service account {c.account or '?'} is disabled or deleted: enable "
                "it, undelete it (within 30 days), or move the workloads to a pool with a "
                "working account."
            ],
            [enable],
            None,
        )
    command, terraform = _autopilot_cluster(c, None)
    return (
        [
            f"The node service account {c.account or '?'} is disabled or deleted: enable it, "
            "or undelete it (within 30 days).",
            f"Cluster {c.cluster or '?'} is Autopilot: its nodes' account is the cluster's "
            "auto-provisioning default, chosen when the cluster was created; no node pool can "
            "take another. Otherwise, an Autopilot cluster with a working account (below, "
            "with the Compute Engine default one or --service-account=EMAIL), the workloads "
            "moved to it.",
        ],
        [enable, command],
        terraform,
    )


def _image_format_advice(c: Context) -> Advice:
    image = image_word(c.image)
    return (
        [
            f"{c.image or 'The image'} is a Docker image manifest v2, schema 1 image, and the "
            f"nodes (GKE {c.node_version or '1.33 or later'}) run containerd 2, which no longer "
            "pulls schema 1. Build and push it again as Docker schema 2 or OCI (docker buildx "
            "does), under the same tag; no grant or node change fixes it.",
        ],
        [
            f"docker buildx build --tag {image} --push .",
            "# then check what the tag now names (schemaVersion 2, or an OCI mediaType):\n"
            f"crane manifest {image}",
        ],
        None,
    )


def _large_image_advice(c: Context) -> Advice:
    size = f" ({c.image_size_bytes / (1 << 30):.1f} GiB)" if c.image_size_bytes else ""
    steps = [
        f"The pull of {c.image or 'the image'}{size} was cancelled before it finished: "
        "containerd gives up on a pull that makes no progress for 5 minutes. No grant helps."
    ]
    preload = (
        "Preload the image on a secondary boot disk of the node pool "
        "(https://cloud.google.com/kubernetes-engine/docs/how-to/data-container-image-preloading)"
        ", or make the image smaller."
    )
    if c.windows:
        steps.append(
            "Image streaming needs Container-Optimized OS nodes, not Windows Server: " + preload
        )
        return steps, [], None
    if c.autopilot or c.image_streaming:
        steps.append("Image streaming is on already. " + preload)
        return steps, [], None
    steps.append(
        "Turn on image streaming for the node pool (the Container File System API, and a "
        "Container-Optimized OS with containerd pool; images in Artifact Registry): containers "
        "start while the image streams. Or: " + preload
    )
    pool = _q(c.node_pool, "POOL")
    return (
        steps,
        [
            f"gcloud services enable containerfilesystem.googleapis.com "
            f"--project={_q(c.project, 'PROJECT')}",
            f"gcloud container node-pools update {pool} {_cluster_flags(c)} "
            "--enable-image-streaming",
        ],
        "# in the google_container_node_pool of this pool:\n"
        "node_config {\n  gcfs_config {\n    enabled = true\n  }\n}\n",
    )


# kubelet's registryPullQPS (default 5) and registryBurst (default 10): KubeletConfiguration
# (https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/). GKE's node system
# config (NodeKubeletConfig: https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/
# NodeConfig#NodeKubeletConfig) offers neither, so on GKE the fix is fewer pulls at once.
def _pull_qps_advice(c: Context) -> Advice:
    return (
        [
            "kubelet refused to start the pull: more pulls were asked of node "
            f"{c.node or '?'} at once than its registryPullQPS (default 5 a second) and "
            "registryBurst (default 10) allow. The registry was never asked; no grant helps.",
            "GKE's node system config does not offer these two kubelet settings: ask fewer "
            "pulls at once. imagePullPolicy: IfNotPresent (Always asks a pull for every "
            "container start, even of an image the node holds), a rollout's maxSurge lower, "
            "or the images preloaded. Where you configure kubelet yourself: raise "
            "registryPullQPS and registryBurst in its KubeletConfiguration.",
        ],
        [
            "# what the node is pulling, and which workloads ask it to:\n"
            "kubectl get pods --all-namespaces "
            f"--field-selector=spec.nodeName={_q(c.node, 'NODE')} -o wide",
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
    Cause.SERVICE_ACCOUNT: _service_account_advice,
    Cause.NOT_FOUND: _not_found_advice,
    Cause.PERMISSION: _permission_advice,
    Cause.RATE_LIMIT: _rate_limit_advice,
    Cause.AUTH_CONFIG: _auth_config_advice,
    Cause.UNVERIFIED: _text(
        "The event names a cluster, node pool or account that the Google APIs do not confirm. "
        "Anyone with logging.logEntries.create can write such an entry: check its origin "
        "before acting."
    ),
    Cause.NETWORK: _network_advice,
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
    Cause.IMAGE_FORMAT: _image_format_advice,
    Cause.LARGE_IMAGE: _large_image_advice,
    Cause.PULL_QPS: _pull_qps_advice,
    Cause.API_DISABLED: _api_disabled_advice,
    Cause.VPC_SC: _vpc_sc_advice,
    Cause.CMEK: _cmek_advice,
    Cause.UPSTREAM: _upstream_advice,
}
_NO_REPRODUCTION = frozenset({Cause.UNVERIFIED, Cause.INVALID_NAME, Cause.PULL_POLICY})


def ticket_draft(c: Context) -> dict[str, Any]:
    """Title, steps, commands (and a Terraform snippet for grants) for one outcome."""
    advice = _ADVICE.get(c.cause) or _text(
        "The message does not say why the pull failed: reproduce it on the node."
    )
    if c.escalation:
        return escalation_ticket(c)
    steps, commands, terraform = advice(c)
    title = f"[pullfix] {c.cause.value}: {c.image or 'an image'} for {_where(c)}"
    return {
        "title": title,
        "steps": steps,
        "commands": commands,
        "terraform": terraform,
        "reproduce": None if c.cause in _NO_REPRODUCTION else _reproduce(c),
    }


def _where(c: Context) -> str:
    return f"{c.namespace or '?'}/{c.workload or '?'} in {c.cluster or 'an unconfirmed cluster'}"


def escalation_ticket(c: Context) -> dict[str, Any]:
    """The one ticket of a grant that did not fix the pull (`c.grant`, the grant made), the
    same whichever part of pullfix escalates it (a failure event past the grace period, or
    a verification pass): granting again cannot help, so it points past the role."""
    grant = c.grant or {}
    granted = (
        f"pullfix granted {grant['role']} on {grant['resource']} to {grant['member']}"
        if grant.get("role") and grant.get("resource") and grant.get("member")
        else "pullfix granted access"
    )
    namespace = f"--namespace={sh(c.namespace or 'default')}"
    return {
        "title": f"[pullfix] grant did not fix it: {c.image or 'an image'} for {_where(c)}",
        "steps": [
            f"{granted} earlier, but the pulls still fail past the grace period: the grant "
            "did not fix it; something besides the missing role blocks the pull.",
            f"Read the pod's events: kubectl describe pods {namespace}",
            "Check the node pool's OAuth scopes and network path to the registry.",
        ],
        "commands": [f"kubectl get events {namespace} --field-selector reason=Failed"],
        "terraform": None,
        "reproduce": f"sudo crictl pull {image_word(c.image)}",
    }

"""The gcp target's component: `GkeService` composes the registry, the cluster and the workload."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.gcp.cluster import DNS_API, MONITORING_API, cluster, enable_apis, kubernetes_provider
from infra.gcp.edge import backend_config_annotations, ingress
from infra.gcp.labels import gcp_label_value
from infra.gcp.model import model_read_access
from infra.gcp.monitoring import alerting
from infra.gcp.nodes import node_service_account
from infra.gcp.registry import registry
from infra.gcp.workload import SERVICE_PORT, load_balancer_url, workload
from infra.settings import Settings


class GkeService(pulumi.ComponentResource):
    """The endpoint on GKE: registry, image, cluster and the Kubernetes workload.

    Attributes:
        url: `http://<load balancer address>`.
        exports: The stack's exports: url, image, project, region, cluster, namespace, service
            and kubeconfig (a secret).
    """

    url: pulumi.Output[str]
    exports: dict[str, pulumi.Output]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Creates every resource of the gcp target.

        Args:
            name: The component's name; children are named after it.
            settings: Validated settings with `settings.gcp` set.
            opts: Resource options for the component.
        """
        super().__init__("echo-service:gcp:GkeService", name, None, opts)
        if settings.gcp is None:
            raise ValueError("GkeService needs settings.gcp (cloud: gcp)")
        g = settings.gcp
        gcp_labels = {key: gcp_label_value(value) for key, value in settings.labels.items()}

        # One explicit provider for every Google resource: the project and region come from the
        # validated settings, never from whatever gcloud or the environment happens to hold, and
        # the labels land on every resource that takes labels (cluster, repository), once.
        provider = gcp.Provider(
            f"{name}-gcp",
            project=g.project,
            region=g.region,
            default_labels=gcp_labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        extra_apis = (MONITORING_API,) if settings.observability.monitoring else ()
        if settings.edge.dns_zone:
            extra_apis += (DNS_API,)
        apis = enable_apis(self, name, provider, extra_apis)
        node_account, node_role = node_service_account(self, name, provider, settings, apis)
        image, image_ref, pull_access = registry(self, name, provider, settings, apis, node_account)
        gke, node_pool = cluster(
            self, name, provider, settings, apis, gcp_labels, node_account, node_role
        )
        k8s_provider, secret_kubeconfig = kubernetes_provider(self, name, settings, gke, node_pool)
        after: list[pulumi.Resource] = [pull_access, image]
        if settings.model.enabled:
            # The first Pods must not start before their service account may read the model.
            after.append(model_read_access(self, name, provider, settings))
        domain = settings.edge.domain
        # With a domain, the Service sits behind the Ingress's HTTPS load balancer.
        backend_config = settings.project
        ns, service = workload(
            self,
            name,
            k8s_provider,
            settings,
            image_ref,
            after=after,
            service_annotations=backend_config_annotations(backend_config) if domain else None,
        )
        extra_exports: dict[str, pulumi.Output] = {}
        if domain:
            extra_exports = ingress(
                self,
                name,
                provider,
                k8s_provider,
                settings,
                ns,
                service.metadata.labels,
                service,
                backend_config,
                SERVICE_PORT,
                apis["compute.googleapis.com"],
                dns_api=apis.get(DNS_API),
            )
            self.url = pulumi.Output.from_input(f"https://{domain}")
        else:
            self.url = service.status.apply(load_balancer_url)
        if settings.observability.monitoring:
            alerting(
                self,
                name,
                provider,
                settings,
                ns,
                gke.name,
                settings.project,
                self.url,
                monitoring_api=apis[MONITORING_API],
            )
        self.exports = {
            "url": self.url,
            "image": image_ref,
            "project": pulumi.Output.from_input(g.project),
            "region": pulumi.Output.from_input(g.region),
            "cluster": gke.name,
            "namespace": ns,
            "service": service.metadata.name,
            "kubeconfig": secret_kubeconfig,
            **extra_exports,
        }
        self.register_outputs(self.exports)

"""ECR: layers keep their bytes (moto keeps their sizes only), and
GetDownloadUrlForLayer, which moto lacks, answers a presigned-looking URL
into the registries' storage (so with --docker-hub-port only), as ECR
answers an S3 URL. A config blob is uploaded as a layer, so preflight can
read the ports an image declares from either registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .patch import patch

if TYPE_CHECKING:
    from .registries import Storage


def install(storage: Storage) -> None:
    """CompleteLayerUpload keeps the layer's bytes; GetDownloadUrlForLayer
    answers where to download one, or ECR's LayersNotFoundException."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.ecr.models import ECRBackend
    from moto.ecr.responses import ECRResponse

    class LayersNotFoundException(ServiceException):
        code = "LayersNotFoundException"

    complete = ECRBackend.complete_layer_upload

    def complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id=None):
        repository = self._get_repository(repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        data = bytes(upload.layer_parts) if upload is not None else b""
        result = complete(self, repository_name, upload_id, layer_digests, registry_id=registry_id)
        storage.put(result["layerDigest"], data)
        return result

    def get_download_url_for_layer(self):
        repository_name = self._get_param("repositoryName")
        registry_id = self._get_param("registryId")
        digest = self._get_param("layerDigest")
        repository = self.ecr_backend._get_repository(repository_name, registry_id)
        known = storage.has(digest) and digest in repository.layers
        if not known or storage.url is None:
            raise LayersNotFoundException(
                f"The layer with digest '{digest}' could not be found in the repository with name '{repository_name}' in the registry with id '{repository.registry_id}'")
        return ActionResult({"downloadUrl": f"{storage.url}/_storage/{digest}?X-Amz-Expires=3600&X-Amz-Signature=local",
                             "layerDigest": digest})

    patch(ECRBackend, "complete_layer_upload", complete_layer_upload,
          expects="(self, repository_name, upload_id, layer_digests, registry_id=None)")
    # moto 5.2.5 has the method, raising NotImplementedError.
    patch(ECRResponse, "get_download_url_for_layer", get_download_url_for_layer, expects="(self)")

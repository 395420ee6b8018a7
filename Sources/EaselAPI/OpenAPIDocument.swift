import Foundation

/// `GET /openapi.json`: the OpenAPI 3.1 description of docs/API.md, written by hand. A test checks that every route of
/// `Router.routes` is in it (and nothing else).
public enum OpenAPIDocument {
    public static let data = Data(text.utf8)

    public static let text = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "Easel", "version": "0.1.0",
           "description": "Self-hosted image generation with FLUX-family models: queued jobs, webhooks, server-sent events."},
  "servers": [{"url": "/"}],
  "security": [{"bearer": []}],
  "paths": {
    "/v1/generate": {
      "post": {
        "operationId": "generate", "summary": "Submit a generation job",
        "parameters": [
          {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 255},
           "description": "Same key and body within the retention window returns the same job; a different body is 409."},
          {"name": "Prefer", "in": "header", "schema": {"type": "string", "examples": ["wait", "wait=10"]},
           "description": "wait[=N] (N ≤ 60): hold the answer until the job is terminal (200) or N seconds pass (202)."}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerateRequest"}}}},
        "responses": {
          "200": {"description": "Terminal job (Prefer: wait) or the job an Idempotency-Key names", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "202": {"description": "Job durably queued", "headers": {"Location": {"schema": {"type": "string"}}},
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
                  "links": {"GetJob": {"operationId": "getJob", "parameters": {"id": "$response.body#/id"}},
                            "CancelJob": {"operationId": "cancelJob", "parameters": {"id": "$response.body#/id"}},
                            "StreamJobEvents": {"operationId": "streamJobEvents", "parameters": {"id": "$response.body#/id"}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"},
          "429": {"description": "queue_full", "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/uploads": {
      "post": {
        "operationId": "upload", "summary": "Upload a PNG for image-to-image or inpainting",
        "description": "The raw PNG is the body. The answer's id can be a generate request's image or mask. An upload is kept while any kept job names it, and for queue.retention_hours after its last use.",
        "requestBody": {"required": true, "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}, "image/jpeg": {"schema": {"type": "string", "format": "binary"}}, "image/webp": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {
          "201": {"description": "Stored", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id", "content_type", "bytes", "width", "height", "expires_at"],
            "properties": {"id": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}, "content_type": {"type": "string"},
                           "bytes": {"type": "integer"}, "width": {"type": "integer"}, "height": {"type": "integer"},
                           "expires_at": {"type": "string", "format": "date-time", "description": "When it is removed if no job uses it"}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs": {
      "get": {
        "operationId": "listJobs", "summary": "List jobs, newest first",
        "parameters": [
          {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/JobStatus"}},
          {"name": "model", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "cursor", "in": "query", "schema": {"type": "string"},
           "description": "Opaque: the next_cursor of an earlier page. Any other value is 400."}
        ],
        "responses": {
          "200": {"description": "A page of jobs", "content": {"application/json": {"schema": {
            "type": "object", "required": ["jobs", "next_cursor"],
            "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                           "next_cursor": {"type": ["string", "null"]}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {
        "operationId": "getJob", "summary": "Get a job",
        "responses": {
          "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "operationId": "cancelJob", "summary": "Cancel a job",
        "description": "The store keeps the job: GET still answers it, with status canceled.",
        "responses": {
          "200": {"description": "Was queued: canceled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "202": {"description": "Running: canceled at the next step boundary", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}/images/{index}.png": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
      "get": {
        "operationId": "getJobImage", "summary": "Download a generated image stored as PNG (output_format png, the default); another extension is a 404",
        "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The PNG image", "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
                  "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}},
          "304": {"description": "Not modified"},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}/images/{index}.jpeg": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
      "get": {
        "operationId": "getJobImageJPEG", "summary": "Download a generated image stored as JPEG (output_format jpeg); another extension is a 404",
        "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The JPEG image", "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
                  "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
          "304": {"description": "Not modified"},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}/images/{index}.webp": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
      "get": {
        "operationId": "getJobImageWebP", "summary": "Download a generated image stored as WEBP (output_format webp); another extension is a 404",
        "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The WEBP image", "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
                  "content": {"image/webp": {"schema": {"type": "string", "contentMediaType": "image/webp"}}}},
          "304": {"description": "Not modified"},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}/events": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {
        "operationId": "streamJobEvents", "summary": "Server-sent events: `event: status` with the job on every change and step",
        "responses": {
          "200": {"description": "text/event-stream; ends after the terminal status. Each message is `event: status` and `data:` followed by one Job object as JSON (schema Job), at once, on every state change and after every step; a `: keepalive` comment line every 15 s.",
                  "content": {"text/event-stream": {"schema": {"type": "string", "contentMediaType": "text/event-stream",
                    "description": "event: status\ndata: <Job JSON>\n\n …"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/models": {
      "get": {
        "operationId": "listModels", "summary": "List configured models",
        "responses": {
          "200": {"description": "Models", "content": {"application/json": {"schema": {
            "type": "object", "required": ["models", "memory"],
            "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
              "memory": {"type": "object", "description": "The models' memory budget (memory.budget_mb)", "properties": {
                "budget_mb": {"type": ["integer", "null"], "description": "null: no budget, nothing is evicted"},
                "resident_mb": {"type": "number", "description": "MiB of model weights resident now"},
                "min_turn_s": {"type": ["number", "null"], "description": "memory.min_turn_s; null: each model's load time, at least 1 s"},
                "usage_half_life_s": {"type": "number", "description": "memory.usage_half_life_s"},
                "usage_s": {"type": "object", "additionalProperties": {"type": "number"}, "description": "Each model's usage now: seconds of memory held while busy, decayed by the half-life"},
                "waiting": {"type": "array", "items": {"type": "string"}, "description": "Models waiting for memory, in line order"}}}}}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/models/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {
        "operationId": "getModel", "summary": "Get one model",
        "responses": {
          "200": {"description": "The model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/healthz": {
      "get": {"operationId": "healthz", "summary": "Liveness", "security": [],
              "responses": {"200": {"description": "{\"status\": \"ok\"}", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/readyz": {
      "get": {"operationId": "readyz", "summary": "Readiness: store open and startup models loaded", "security": [],
              "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                            "503": {"$ref": "#/components/responses/Error"}}}
    },
    "/metrics": {
      "get": {"operationId": "metrics", "summary": "Prometheus metrics", "security": [],
              "responses": {"200": {"description": "Text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}
    },
    "/openapi.json": {
      "get": {"operationId": "openapi", "summary": "This document", "security": [],
              "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    }
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key; `Authorization: Key <key>` works too."}},
    "responses": {
      "Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
          "code": {"type": "string", "enum": ["invalid_request", "unauthorized", "not_found", "model_not_found", "job_not_found",
                                               "method_not_allowed", "conflict", "payload_too_large", "unsupported_media_type",
                                               "queue_full", "internal", "unavailable"]},
          "message": {"type": "string"}, "field": {"type": "string"}}}}
      },
      "JobStatus": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
      "GenerateRequest": {
        "type": "object", "additionalProperties": false, "required": ["model", "prompt"],
        "properties": {
          "model": {"type": "string", "description": "A registry id (GET /v1/models)"},
          "prompt": {"type": "string", "minLength": 1, "maxLength": 4000},
          "negative_prompt": {"type": "string", "default": "", "maxLength": 4000, "description": "Only for models with true classifier-free guidance"},
          "width": {"type": "integer", "minimum": 1, "maximum": 16384, "description": "A multiple of the model's limits.size_step, from size_step to limits.max_width (GET /v1/models)"},
          "height": {"type": "integer", "minimum": 1, "maximum": 16384, "description": "A multiple of the model's limits.size_step, from size_step to limits.max_height (GET /v1/models)"},
          "steps": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most the model's limits.max_steps (GET /v1/models)"},
          "guidance": {"type": "number", "minimum": 0, "maximum": 100},
          "seed": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615, "description": "Random when absent; image i uses seed + i"},
          "num_images": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1},
          "image": {"type": "string", "pattern": "^(data:image/(png|jpeg|jpg|webp);base64,|sha256:)", "description": "Image-to-image / inpainting source: a PNG, JPEG or WebP as a data URI (kept as PNG), or the id of a POST /v1/uploads. Its size is the output size (width and height, if given, must match; sides multiples of the model's size step, within its limits)"},
          "mask": {"type": "string", "pattern": "^(data:image/(png|jpeg|jpg|webp);base64,|sha256:)", "description": "Inpainting mask (needs image, same size): a PNG, JPEG or WebP data URI or an upload id; luminance ≥ 50 % (white) is repainted, the rest kept"},
          "strength": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.6, "description": "With image: the part of the denoising schedule that runs (FluxImg2ImgPipeline's strength)"},
          "loras": {"type": "array", "maxItems": 8, "description": "LoRAs for this request only, stacked; jobs with different LoRAs still share a batch", "items": {"type": "object", "required": ["path"], "additionalProperties": false, "properties": {"path": {"type": "string", "maxLength": 2048, "description": "A .safetensors file name (at most 255 bytes) inside the server's loras.dir, or an https URL fetched once through the SSRF guard (loras.allow_urls); diffusers/PEFT or kohya FLUX keys"}, "scale": {"type": "number", "minimum": -10, "maximum": 10, "default": 1}}}},
          "previews": {"type": "boolean", "default": false, "description": "SSE preview events (a small PNG data URI of the x0 estimate) while the job runs"},
          "cache": {"description": "Step caching (First-Block-Cache class): skip all but the first transformer block on steps where its residual changed by less than threshold (relative L1). {} or true: the model's threshold, else 0.15; false or 0: off. Default: the model's config", "oneOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": false, "properties": {"threshold": {"type": "number", "minimum": 0, "maximum": 1}}}]},
          "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"], "default": "png"},
          "output_quality": {"type": "integer", "minimum": 1, "maximum": 100, "description": "JPEG and WebP quality (default 90; WebP 100 is lossless); PNG ignores it"},
          "webhook_url": {"type": "string", "format": "uri", "maxLength": 2048},
          "priority": {"type": "string", "enum": ["high", "normal", "low"], "default": "normal"},
          "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 604800},
          "metadata": {"type": "object", "description": "Opaque, at most 4 KiB serialized; echoed in the job and webhook"}
        }
      },
      "Job": {
        "type": "object",
        "required": ["id", "model", "status", "created_at", "started_at", "completed_at", "queue_position", "progress",
                     "cancel_requested", "attempts", "input", "images", "error", "metrics", "metadata", "webhook"],
        "properties": {
          "id": {"type": "string"}, "model": {"type": "string"}, "status": {"$ref": "#/components/schemas/JobStatus"},
          "created_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": ["string", "null"], "format": "date-time"},
          "completed_at": {"type": ["string", "null"], "format": "date-time"},
          "queue_position": {"type": ["integer", "null"]},
          "progress": {"type": "object", "properties": {"step": {"type": "integer"}, "steps": {"type": "integer"}}},
          "cancel_requested": {"type": "boolean"},
          "attempts": {"type": "integer"},
          "input": {"type": "object"},
          "images": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "url": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"},
            "seed": {"type": "integer"}, "content_type": {"type": "string", "enum": ["image/png", "image/jpeg", "image/webp"]}}}},
          "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
          "metrics": {"type": "object", "properties": {"queue_ms": {"type": ["integer", "null"]},
                      "inference_ms": {"type": ["integer", "null"]}, "batch_size": {"type": ["integer", "null"]},
                      "transformer_passes": {"type": "integer", "description": "Transformer calls of the job's images (steps x images, x 2 with true CFG); once succeeded"},
                      "cached_passes": {"type": "integer", "description": "Of those, the calls the step cache cut short after the first block"}}},
          "metadata": {"type": "object"},
          "webhook": {"type": ["object", "null"], "properties": {
            "url": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"}, "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]}}}
        }
      },
      "Model": {
        "type": "object", "required": ["id", "family", "description", "backend", "loaded", "defaults", "limits", "max_batch_size"],
        "properties": {
          "id": {"type": "string"}, "family": {"type": "string", "const": "flux"}, "description": {"type": "string"},
          "backend": {"type": "string", "enum": ["cpu", "cuda"]}, "loaded": {"type": "boolean"},
          "load": {"type": "string", "enum": ["startup", "lazy"]}, "load_error": {"type": "string"},
          "state": {"type": "string", "enum": ["not_loaded", "loading", "loaded", "evicted", "failed"]},
          "memory_mb": {"type": "number", "description": "What the model counts against memory.budget_mb (models[].memory_mb, else its weights as the backend holds them)"},
          "defaults": {"type": "object", "properties": {"width": {"type": "integer"}, "height": {"type": "integer"},
                       "steps": {"type": "integer"}, "guidance": {"type": "number"}}},
          "limits": {"type": "object", "properties": {"max_width": {"type": "integer"}, "max_height": {"type": "integer"},
                     "max_steps": {"type": "integer"}, "max_num_images": {"type": "integer"}, "size_step": {"type": "integer"}}},
          "max_batch_size": {"type": "integer"},
          "batching": {"type": "string", "enum": ["continuous", "static"]},
          "cache": {"type": ["object", "null"], "description": "Step caching applied to requests that do not set cache (models[].cache); null: off", "properties": {"threshold": {"type": "number"}}}
        }
      }
    }
  }
}
"""#
}

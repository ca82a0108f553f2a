/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, the same messages under two
 * names): tools such as grpcurl ask the sidecar which services it offers and get the
 * `FileDescriptorProto`s of their .proto files, so `grpcurl -plaintext 127.0.0.1:50051 list` and
 * `describe` work without the .proto files at hand. Answers come from the descriptors protobuf-es
 * generated (`src/gen`), so they are what the server actually speaks.
 *
 * @module
 */

import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { DescFile, DescMessage } from '@bufbuild/protobuf'
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt'
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from '../gen/grpc/reflection/v1/reflection_pb.js'
import type { ServerReflectionResponse } from '../gen/grpc/reflection/v1/reflection_pb.js'

/** The reflection services' names: v1, and v1alpha for older tools. */
export const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'] as const

const NOT_FOUND = 5
const INVALID_ARGUMENT = 3

/** Answers reflection requests about a fixed set of services. */
export class Reflection {
  readonly #services: string[]
  readonly #byName = new Map<string, DescFile>()
  readonly #bySymbol = new Map<string, DescFile>()
  readonly #messages = new Set<string>()
  readonly #encoded = new Map<DescFile, Uint8Array>()

  /**
   * `services` are the fully qualified names offered; `files` the generated files that define
   * them (their imports are found by themselves).
   *
   * @example
   * new Reflection(['verdict.v1.Authorizer'], [file_verdict_v1_authorizer])
   */
  constructor(services: readonly string[], files: readonly DescFile[]) {
    this.#services = [...services].sort()
    const visit = (file: DescFile): void => {
      if (this.#byName.has(file.proto.name)) return
      this.#byName.set(file.proto.name, file)
      for (const dep of file.dependencies) visit(dep)
      for (const s of file.services) {
        this.#bySymbol.set(s.typeName, file)
        for (const m of s.methods) this.#bySymbol.set(`${s.typeName}.${m.name}`, file)
      }
      for (const e of file.enums) this.#bySymbol.set(e.typeName, file)
      const message = (m: DescMessage): void => {
        this.#bySymbol.set(m.typeName, file)
        this.#messages.add(m.typeName)
        for (const n of m.nestedMessages) message(n)
        for (const e of m.nestedEnums) this.#bySymbol.set(e.typeName, file)
      }
      for (const m of file.messages) message(m)
    }
    for (const f of files) visit(f)
  }

  /** Answers one serialized `ServerReflectionRequest` with a serialized `ServerReflectionResponse`. */
  answer(bytes: Uint8Array): Uint8Array {
    const request = fromBinary(ServerReflectionRequestSchema, bytes)
    const response = create(ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request })
    const q = request.messageRequest
    switch (q.case) {
      case 'listServices':
        response.messageResponse = {
          case: 'listServicesResponse',
          value: { $typeName: 'grpc.reflection.v1.ListServiceResponse', service: this.#services.map((name) => ({ $typeName: 'grpc.reflection.v1.ServiceResponse', name })) },
        }
        break
      case 'fileByFilename':
        this.#files(response, this.#byName.get(q.value), `no file named ${q.value}`)
        break
      case 'fileContainingSymbol':
        this.#files(response, this.#bySymbol.get(q.value.replace(/^\./, '')), `no symbol ${q.value}`)
        break
      case 'allExtensionNumbersOfType':
        if (this.#messages.has(q.value)) {
          response.messageResponse = {
            case: 'allExtensionNumbersResponse',
            value: { $typeName: 'grpc.reflection.v1.ExtensionNumberResponse', baseTypeName: q.value, extensionNumber: [] },
          }
        } else error(response, NOT_FOUND, `no message type ${q.value}`)
        break
      case 'fileContainingExtension':
        error(response, NOT_FOUND, `no extension ${q.value.extensionNumber} of ${q.value.containingType}`)
        break
      default:
        error(response, INVALID_ARGUMENT, 'empty reflection request')
    }
    return toBinary(ServerReflectionResponseSchema, response)
  }

  /** The file, then every file it imports, directly or not. */
  #files(response: ServerReflectionResponse, file: DescFile | undefined, missing: string): void {
    if (file === undefined) {
      error(response, NOT_FOUND, missing)
      return
    }
    const out: Uint8Array[] = []
    const seen = new Set<DescFile>()
    const add = (f: DescFile): void => {
      if (seen.has(f)) return
      seen.add(f)
      let encoded = this.#encoded.get(f)
      if (encoded === undefined) {
        encoded = toBinary(FileDescriptorProtoSchema, f.proto)
        this.#encoded.set(f, encoded)
      }
      out.push(encoded)
      for (const dep of f.dependencies) add(dep)
    }
    add(file)
    response.messageResponse = {
      case: 'fileDescriptorResponse',
      value: { $typeName: 'grpc.reflection.v1.FileDescriptorResponse', fileDescriptorProto: out },
    }
  }
}

function error(response: ServerReflectionResponse, code: number, message: string): void {
  response.messageResponse = {
    case: 'errorResponse',
    value: { $typeName: 'grpc.reflection.v1.ErrorResponse', errorCode: code, errorMessage: message },
  }
}

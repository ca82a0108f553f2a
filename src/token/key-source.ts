/**
 * Per-issuer key sources: a JWKS file reloaded when it changes (fs.watch plus an mtime check,
 * since watch events are not guaranteed on every filesystem) and a remote JWKS that keeps
 * serving its last good set while the identity provider is unreachable.
 *
 * Both only ever hand jose a JSON Web Key Set, never a bare key: jose refuses symmetric or
 * private members in a set, so HS/RS key confusion cannot happen on this path.
 *
 * @module
 */
import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose'

/** A key resolver for `jwtVerify`, plus lifecycle. */
export interface KeySource {
  readonly getKey: JWTVerifyGetKey
  /** The current key set, if any was loaded. */
  jwks(): JSONWebKeySet | undefined
  /** Starts a due freshness check in the background (cheap; never waits). */
  poll(): void
  /** Stop watching / refreshing. */
  close(): void
}

/** The key set could not be loaded at all (no last good set to fall back on). */
export class KeySourceUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KeySourceUnavailable'
  }
}

type LocalSet = ReturnType<typeof createLocalJWKSet>

function isNoMatchingKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_JWKS_NO_MATCHING_KEY'
}

/** Options for {@link createFileKeySource}. */
export interface FileKeySourceOptions {
  checkIntervalMs: number
  now: () => number
  /** Called after a changed key set was loaded (callers drop cached verifications). */
  onChange?: () => void
}

/** A JWKS read from `path`; reloads on change and keeps the last good set if a reload fails. */
export function createFileKeySource(path: string, options: FileKeySourceOptions): KeySource {
  let current: { set: LocalSet; jwks: JSONWebKeySet } | undefined
  let signature = ''
  let lastCheck = -Infinity
  let dirty = true
  let lastError: unknown
  let inFlight: Promise<void> | undefined
  let watcher: FSWatcher | undefined

  try {
    // Watch the directory: editors and atomic writers replace the file, which ends a file watch.
    const name = basename(path)
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return
      dirty = true
      // Reload now rather than on the next miss, so cached results of removed keys go at once.
      void refresh(true)
    })
    watcher.on('error', () => {
      watcher?.close()
      watcher = undefined
    })
  } catch {
    watcher = undefined
  }

  const load = async () => {
    lastCheck = options.now()
    dirty = false
    try {
      const st = await stat(path)
      const sig = `${st.ino}:${st.size}:${st.mtimeMs}`
      if (sig === signature && current) return
      const parsed: unknown = JSON.parse(await readFile(path, 'utf8'))
      const set = createLocalJWKSet(parsed as JSONWebKeySet)
      current = { set, jwks: parsed as JSONWebKeySet }
      const changed = signature !== ''
      signature = sig
      lastError = undefined
      if (changed) options.onChange?.()
    } catch (err) {
      // Keep serving the last good set; a half-written or broken file must not lock everyone out.
      lastError = err
    }
  }

  const refresh = async (force: boolean) => {
    // Until a first set is loaded, every caller waits for the load in flight: concurrent first
    // checks at startup must not see "no keys" while the file is being read.
    const fresh = current !== undefined && options.now() - lastCheck < options.checkIntervalMs
    if (!force && !dirty && fresh && inFlight === undefined) return
    inFlight ??= load().finally(() => {
      inFlight = undefined
    })
    await inFlight
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    await refresh(false)
    if (!current) throw new KeySourceUnavailable('key set unavailable', { cause: lastError })
    try {
      return await current.set(header, token)
    } catch (err) {
      // A new kid may mean the file was rotated before our next check: look once more.
      if (!isNoMatchingKey(err)) throw err
      const before = current
      await refresh(true)
      if (current === before) throw err
      return current.set(header, token)
    }
  }

  return {
    getKey,
    jwks: () => current?.jwks,
    poll() {
      // Called on every cache hit: the common case (fresh, nothing pending) must not even make a
      // promise.
      if (current !== undefined && !dirty && inFlight === undefined && options.now() - lastCheck < options.checkIntervalMs) return
      void refresh(false)
    },
    close() {
      watcher?.close()
      watcher = undefined
    },
  }
}

/** Options for {@link createRemoteKeySource}. */
export interface RemoteKeySourceOptions {
  cacheMaxAgeMs: number
  cooldownMs: number
  timeoutMs: number
  /** How long after the last successful use of the IdP's key set it is still served during an outage. */
  maxStaleMs?: number
  now?: () => number
  onChange?: () => void
}

function isKeySelectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'
}

/**
 * A JWKS fetched from `url` with jose's cache and cooldown. jose has no stale-if-error, so when a
 * refresh fails we answer from the last set that was fetched successfully.
 */
export function createRemoteKeySource(url: string, options: RemoteKeySourceOptions): KeySource {
  const remote = createRemoteJWKSet(new URL(url), {
    cacheMaxAge: options.cacheMaxAgeMs,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: options.timeoutMs,
  })
  let lastGood: { jwks: JSONWebKeySet; set: LocalSet } | undefined
  let lastGoodAt = 0
  const now = options.now ?? Date.now

  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      const key = await remote(header, token)
      const jwks = remote.jwks()
      if (jwks && jwks !== lastGood?.jwks) {
        const changed = lastGood !== undefined
        lastGood = { jwks, set: createLocalJWKSet(jwks) }
        if (changed) options.onChange?.()
      }
      lastGoodAt = now()
      return key
    } catch (err) {
      if (isKeySelectionError(err) || (err as { code?: unknown })?.code === 'ERR_JWS_INVALID') {
        throw err
      }
      const fresh = options.maxStaleMs === undefined || now() - lastGoodAt <= options.maxStaleMs
      if (lastGood && fresh) return lastGood.set(header, token)
      throw new KeySourceUnavailable('key set unavailable', { cause: err })
    }
  }

  return {
    getKey,
    jwks: () => lastGood?.jwks ?? remote.jwks(),
    poll() {},
    close() {},
  }
}

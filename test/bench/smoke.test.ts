/**
 * Runs the side-by-side benchmark in smoke mode (tiny counts) the way `npm run bench -- --smoke`
 * does, and checks that it measured every target and that no target gave a wrong answer. Speed
 * is never asserted here.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import type { BenchReport } from '../../bench/side-by-side/report.js'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const out = mkdtempSync(join(tmpdir(), 'verdict-bench-smoke-'))

afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('Bench smoke', () => {
  it('measures echo, Verdict (one process and two workers) and Cerbos with zero wrong answers and full audit', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/side-by-side/run.ts', '--smoke', '--out', out],
      {
        cwd: repo,
        encoding: 'utf8',
        timeout: 110_000,
      },
    )
    expect(run.status, run.stderr).toBe(0)
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchReport
    const md = readFileSync(join(out, 'latest.md'), 'utf8')
    expect(md).toContain('| target | tokens | conc |')
    expect(md).toContain('| client CPU µs/req |')
    expect(run.stdout).toContain('# Side-by-side benchmark (smoke)')
    expect(report.mode).toBe('smoke')
    for (const target of ['echo', 'verdict', 'cerbos', 'verdict-w2']) {
      const phases = report.phases.filter((p) => p.target === target)
      expect(phases.length, `${target}: ${JSON.stringify(report.skipped)}`).toBeGreaterThan(0)
      for (const p of phases) {
        expect(p.wrong, `${target} ${p.tokens} c=${p.concurrency}: ${p.samples.join('; ')}`).toBe(0)
        expect(p.ok).toBeGreaterThan(0)
      }
    }
    for (const target of ['verdict', 'cerbos', 'verdict-w2']) {
      const probe = report.probes.find((p) => p.target === target)
      expect(probe, `${target} forged-token probe`).toBeDefined()
      expect(probe!.rejected).toBe(probe!.forged)
    }
    for (const target of ['verdict', 'verdict-w2']) {
      const audit = report.audit.find((a) => a.target === target)
      expect(audit?.decisions, `${target} decisions`).toBeGreaterThan(0)
      expect(audit?.events, `every ${target} decision reaches the audit stream`).toBe(audit?.decisions)
    }
    // Both Verdict targets publish to the one stream at once; each is counted by its subject.
    for (const a of report.audit) expect(a.events, `${a.target} audit events`).toBe(a.decisions)
    // Optional rows (Verdict over a unix socket) are either measured right or listed as skipped.
    for (const p of report.phases) expect(p.wrong).toBe(0)
    // Every phase says what its clients cost: a positive CPU time per answered request.
    for (const p of report.phases) {
      expect(p.clientCpuUsPerReq, `${p.target} c=${p.concurrency} client CPU`).toBeGreaterThan(0)
      expect(Number.isFinite(p.clientCpuUsPerReq)).toBe(true)
    }
    expect(report.settings.client).toBe('h2')
    expect(report.ratios.some((r) => r.baseline === 'echo')).toBe(true)
    expect(report.ratios.some((r) => r.baseline === 'cerbos')).toBe(true)
  }, 120_000)
})

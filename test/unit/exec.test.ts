import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'

describe('commands famlab runs', () => {
  it('never read the admin\'s ~/.bashrc, even where SHLVL is unset (systemd)', async () => {
    const home = mkdtempSync(join(tmpdir(), 'famlab-home-'))
    try {
      writeFileSync(join(home, '.bashrc'), 'echo "from .bashrc"\n')
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home }
      delete env.SHLVL
      const result = await run(['echo', 'only this'], { env, input: '' })
      assert.equal(result.stdout, 'only this\n')
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

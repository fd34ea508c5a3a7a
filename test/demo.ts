// make demo: a three-node family on this one machine, enrolled and backed up for real, then removed;
// a household member's Mac writes a sparsebundle to alice over SMB, and alice's backup waits for it.
// make demo-clean (--clean): removes what an interrupted demo left behind.
import { type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createFamily, reapFamilies, type Node, type RunOptions } from './harness/family.ts'
import { startSmbd, type Smbd } from './harness/samba.ts'
import { writeManyFiles, writeRichTree } from './harness/tree.ts'

const say = (text: string) => process.stdout.write(`\n== ${text}\n`)
const indent = (text: string) => text.split('\n').filter((line) => line.trim()).map((line) => `   ${line}\n`).join('')

async function famlab(node: Node, args: string[], options: RunOptions & { expect?: number[] } = {}): Promise<string> {
  process.stdout.write(`${node.name}# famlab ${args.join(' ')}\n`)
  const result = await node.famlab(args, options)
  process.stdout.write(indent(result.stdout) + indent(result.stderr))
  if (!(options.expect ?? [0, 3]).includes(result.code)) throw new Error(`famlab ${args[0]} on ${node.name} exited ${result.code}`)
  if (options.expect) process.stdout.write(`   (exit ${result.code})\n`)
  return result.stdout
}

/** What a Mac puts in its Time Machine share: a sparsebundle, written here over SMB with smbclient. */
async function fakeMacBackup(smbd: Smbd, dir: string): Promise<void> {
  mkdirSync(join(dir, 'bands'), { recursive: true })
  writeFileSync(join(dir, 'Info.plist'), '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n')
  writeFileSync(join(dir, 'token'), '')
  for (const band of ['0', '1', '2', '3']) writeFileSync(join(dir, 'bands', band), Buffer.alloc(2 ** 20, band.charCodeAt(0)))
  const put = await smbd.smbclient(MEMBER, PASSWORD, [
    'mkdir Mac.sparsebundle', 'cd Mac.sparsebundle', `lcd ${dir}`, 'put Info.plist', 'put token',
    'mkdir bands', 'cd bands', `lcd ${join(dir, 'bands')}`, 'put 0', 'put 1', 'put 2', 'put 3',
  ].join('; '))
  if (!put.ok) throw new Error(`smbclient: ${put.stdout}${put.stderr}`)
}

const MEMBER = 'anna'
const PASSWORD = 'demo password'

if (process.argv.includes('--clean')) {
  const count = await reapFamilies(true)
  process.stdout.write(`removed ${count} leftover famlab test famil${count === 1 ? 'y' : 'ies'}\n`)
} else {
  say('Building three nodes: a btrfs loop file, an sshd on 127.0.0.1 and an ssh.user each; famlab init')
  const family = await createFamily(['alice', 'bob', 'carol'], { enroll: false })
  let smbd: Smbd | undefined
  let mac: ChildProcess | undefined
  let memberAdded = false
  try {
    for (const node of family.nodes) process.stdout.write(`   ${node.name}: root ${node.root}, sshd 127.0.0.1:${node.port}, user ${node.user}\n`)
    const [alice, bob, carol] = family.nodes

    say('Enrolling: bob joins through alice, carol joins through bob')
    const tokenForBob = (await famlab(alice, ['invite', '--expires', '1h'])).trim().split('\n').at(-1)!
    await famlab(bob, ['add-peer', tokenForBob])
    const tokenForCarol = (await famlab(bob, ['invite', '--expires', '1h'])).trim().split('\n').at(-1)!
    await famlab(carol, ['add-peer', tokenForCarol])

    say('Each household puts something in local/ (what its Macs and PCs back up)')
    for (const node of family.nodes) {
      await writeRichTree(join(node.root, 'local'), node.name)
      mkdirSync(join(node.root, 'local/filehistory/kid'), { recursive: true })
      writeManyFiles(join(node.root, 'local/filehistory/kid/Pictures'), 200, 16 * 1024)
      writeFileSync(join(node.root, 'local/filehistory/kid/homework.txt'), `homework of ${node.name}\n`)
      process.stdout.write(`   ${node.name}: ${join(node.root, 'local')}\n`)
    }

    say(`A household member on alice: ${MEMBER}, whose Mac backs up over SMB (a real smbd on 127.0.0.1)`)
    smbd = await startSmbd(alice)
    const onAlice = { env: smbd.env }
    await famlab(alice, ['user', 'add', MEMBER], { ...onAlice, input: `${PASSWORD}\n` })
    memberAdded = true
    await famlab(alice, ['user', 'list'], onAlice)
    await fakeMacBackup(smbd, join(family.base, 'mac'))
    process.stdout.write(`   the Mac wrote Mac.sparsebundle into ${join(alice.root, 'local/timemachine', MEMBER)} with smbclient\n`)

    say('The Mac is still writing (a band is open): alice waits before her snapshot')
    mac = smbd.openSession(MEMBER, PASSWORD)
    mac.stdin!.write('open Mac.sparsebundle/bands/2\n')
    for (let i = 0; i < 50 && (await alice.famlab(['tm-idle'], onAlice)).code !== 75; i++) await new Promise((r) => setTimeout(r, 100))
    await famlab(alice, ['tm-idle'], { ...onAlice, expect: [75] })
    process.stdout.write('alice# famlab backup   (it checks once a minute; the Mac finishes in 5 seconds)\n')
    const backup = alice.spawnFamlab(['backup'], onAlice)
    backup.stderr!.on('data', (chunk: Buffer) => process.stdout.write(indent(chunk.toString())))
    await new Promise((r) => setTimeout(r, 5000))
    mac.stdin!.end('quit\n')
    process.stdout.write('   (the Mac closed its backup)\n')
    const code = await new Promise((r) => backup.once('exit', r))
    process.stdout.write(`   (exit ${code})\n`)

    say('Backing up bob and carol too: snapshot, replicate to the two others, prune')
    for (const node of [bob, carol]) await famlab(node, ['backup'])

    say('What every node knows: members, and the replicas it holds for the others')
    for (const node of [alice, bob, carol]) await famlab(node, ['peers'])
    process.stdout.write(`   ${MEMBER}'s sparsebundle on bob: ${readdirSync(join(bob.root, 'replicas/alice')).filter((n) => !n.startsWith('.')).map((snap) => join('replicas/alice', snap, 'timemachine', MEMBER, 'Mac.sparsebundle')).join(', ')}\n`)

    say('The health of the whole family, as alice sees it (each node runs report hourly from its timer)')
    for (const node of [bob, carol]) await node.famlab(['report'])
    await famlab(alice, ['report'], { expect: [0, 1] })
  } finally {
    say('Cleaning up: smbd and sshds stopped, loop filesystems unmounted, files removed')
    mac?.kill()
    if (memberAdded) await family.node('alice').famlab(['user', 'remove', MEMBER], { env: smbd!.env })
    await smbd?.stop()
    await family.cleanup()
  }
}

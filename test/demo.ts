// make demo: a three-node family on this one machine, enrolled and backed up for real, then removed.
// make demo-clean (--clean): removes what an interrupted demo left behind.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createFamily, reapFamilies, type Node } from './harness/family.ts'
import { writeManyFiles, writeRichTree } from './harness/tree.ts'

const say = (text: string) => process.stdout.write(`\n== ${text}\n`)
const indent = (text: string) => text.split('\n').filter((line) => line.trim()).map((line) => `   ${line}\n`).join('')

async function famlab(node: Node, args: string[]): Promise<string> {
  process.stdout.write(`${node.name}# famlab ${args.join(' ')}\n`)
  const result = await node.famlab(args)
  process.stdout.write(indent(result.stdout) + indent(result.stderr))
  if (![0, 3].includes(result.code)) throw new Error(`famlab ${args[0]} on ${node.name} exited ${result.code}`)
  return result.stdout
}

if (process.argv.includes('--clean')) {
  const count = await reapFamilies(true)
  process.stdout.write(`removed ${count} leftover famlab test famil${count === 1 ? 'y' : 'ies'}\n`)
} else {
  say('Building three nodes: a btrfs loop file, an sshd on 127.0.0.1 and an ssh.user each; famlab init')
  const family = await createFamily(['alice', 'bob', 'carol'], { enroll: false })
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

    say('Backing up every node: snapshot, replicate to the two others, prune')
    for (const node of family.nodes) await famlab(node, ['backup'])

    say('What every node knows: members, and the replicas it holds for the others')
    for (const node of [alice, bob, carol]) await famlab(node, ['peers'])
  } finally {
    say('Cleaning up: sshds stopped, loop filesystems unmounted, files removed')
    await family.cleanup()
  }
}

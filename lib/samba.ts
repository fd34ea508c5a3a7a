// The Samba and Avahi files for this node, rendered from the templates in etc/.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readDisk, timeMachineMaxSize } from './capacity.ts'
import type { Config } from './config.ts'
import { storage } from './paths.ts'
import { replicaSharesConf } from './replica-shares.ts'

const ETC = fileURLToPath(new URL('../etc', import.meta.url))

export const DEFAULT_SMB_CONF = '/etc/samba/smb.conf'
export const AVAHI_SERVICE_FILE = '/etc/avahi/services/famlab.service'
/** Unix group of the household members: the only accounts the shares let in. */
export const HOUSEHOLD_GROUP = 'famlab-household'
export const TIMEMACHINE_SHARE = 'timemachine'
export const FILEHISTORY_SHARE = 'filehistory'
/** catia and streams_xattr around fruit, in the order vfs_fruit documents; shadow_copy2 for Previous Versions. */
export const VFS_OBJECTS = ['catia', 'fruit', 'streams_xattr', 'shadow_copy2']

/** The smb.conf that tools on this box use: FAMLAB_SMB_CONF (tests, a second smbd), else Samba's own. */
export function smbConfPath(env: NodeJS.ProcessEnv): string {
  return env.FAMLAB_SMB_CONF || DEFAULT_SMB_CONF
}

/** Replaces every `{{name}}`; a placeholder without a value is a bug in the template. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`template placeholder {{${name}}} has no value`)
    return values[name]
  })
}

function templateValues(config: Config): Record<string, string> {
  return {
    node: config.node,
    local: storage(config).local,
    snapshots: storage(config).snapshots,
    replica_shares: replicaSharesConf(config),
    group: HOUSEHOLD_GROUP,
    vfs_objects: VFS_OBJECTS.join(' '),
    timemachine_share: TIMEMACHINE_SHARE,
    filehistory_share: FILEHISTORY_SHARE,
    timemachine_max_size: timeMachineMaxSize(config, readDisk(config.root)),
  }
}

export function renderSmbConf(config: Config): string {
  return renderTemplate(readFileSync(join(ETC, 'smb.conf.in'), 'utf8'), templateValues(config))
}

export function renderAvahiService(config: Config): string {
  return renderTemplate(readFileSync(join(ETC, 'famlab.service.in'), 'utf8'), templateValues(config))
}

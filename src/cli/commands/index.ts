import type { Command } from 'commander';
import { registerAttach } from './attach.js';
import { registerBackup } from './backup.js';
import { registerBlob } from './blob.js';
import { registerCp } from './cp.js';
import { registerDiscover } from './discover.js';
import { registerInstall } from './install.js';
import { registerLogin } from './login.js';
import { registerManifest } from './manifest.js';
import { registerPublish } from './publish.js';
import { registerPull } from './pull.js';
import { registerPush } from './push.js';
import { registerRepo } from './repo.js';
import { registerResolve } from './resolve.js';
import { registerTag } from './tag.js';
import { registerVerify } from './verify.js';
import { registerVersion } from './version.js';

/** Registers every `oras` subcommand on `program`. */
export function registerCommands(program: Command): void {
  registerPush(program);
  registerPull(program);
  registerLogin(program);
  registerAttach(program);
  registerDiscover(program);
  registerCp(program);
  registerTag(program);
  registerResolve(program);
  registerManifest(program);
  registerBlob(program);
  registerRepo(program);
  registerBackup(program);
  registerInstall(program);
  registerPublish(program);
  registerVerify(program);
  registerVersion(program);
}

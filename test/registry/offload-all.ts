/** Side-effect import: every VerifyingStream in this test process hashes in a worker (threshold 1 byte). */
import { hashOffloadSettings } from '../../src/oci/hash-offload.js';

hashOffloadSettings.enabled = true;
hashOffloadSettings.threshold = 1;

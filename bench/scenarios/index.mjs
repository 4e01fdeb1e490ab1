// The scenarios, in run order.
import * as s1 from './s1-pull-big.mjs';
import * as s2 from './s2-push-big.mjs';
import * as s3 from './s3-many-files.mjs';
import * as s4 from './s4-rss.mjs';
import * as s5 from './s5-install.mjs';
import * as s6 from './s6-concurrency.mjs';
import * as s7 from './s7-small-files.mjs';

export const scenarios = [s1, s2, s3, s4, s5, s6, s7];

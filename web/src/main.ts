import './style.css';
import { startLive } from './live.js';
import { startPlayground } from './playground.js';

/** The dashboard of `bpfmem serve` (docs/dashboard.md). */
startLive();
startPlayground();

/**
 * Renders bench result files (bench/results/*.json) as Markdown tables, for docs/performance.md:
 *
 *   node bench/report.ts bench/results/A.json [B.json ...]
 */
import { readFileSync } from 'node:fs';

interface Sample {
  cpu_s: number | null;
  max_rss_mib: number | null;
  broker_cpu_s: number | null;
  other_cpu_s?: number | null;
}
interface Step {
  step: string;
  mib_per_sec: number;
  records_per_sec: number;
  median_seconds: number;
  ratio?: number;
  target_ratio?: number;
  ceiling_of?: string[];
  cpu_s?: number | null;
  max_rss_mib?: number | null;
  rss_target_mib?: number;
  samples: Sample[];
}
interface Scenario {
  scenario: string;
  description: string;
  records: number;
  record_size: number;
  partitions: number;
  payload_bytes: number;
  load: { mib_per_sec: number };
  backup_shape?: Record<string, number>;
  steps: Step[];
  error?: string;
}
interface ResultFile {
  started_at: string;
  args: { runs: number };
  scenarios: Scenario[];
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function render(file: string): string {
  const r = JSON.parse(readFileSync(file, 'utf8')) as ResultFile;
  const out: string[] = [];
  for (const s of r.scenarios) {
    const size = s.payload_bytes / 1024 ** 2;
    out.push(
      `#### ${s.scenario}: ${s.description}, ${s.records.toLocaleString('en')} records (${size >= 1024 ? `${+(size / 1024).toFixed(2)} GiB` : `${+size.toFixed(1)} MiB`}), ${r.args.runs} run(s), median`,
      '',
      '| step | MiB/s | records/s | ratio to ceiling | target | CPU s | peak RSS MiB | broker CPU s | other CPU s |',
      '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    );
    for (const st of s.steps) {
      const t: string[] = [];
      if (st.target_ratio !== undefined && st.ratio !== undefined)
        t.push(`≥ ${st.target_ratio}: ${st.ratio >= st.target_ratio ? 'met' : '**missed**'}`);
      if (st.rss_target_mib !== undefined && st.max_rss_mib != null)
        t.push(`RSS ≤ ${st.rss_target_mib}: ${st.max_rss_mib <= st.rss_target_mib ? 'met' : '**missed**'}`);
      const nums = (k: keyof Sample) => st.samples.map((x) => x[k]).filter((x): x is number => typeof x === 'number');
      out.push(
        `| ${st.ceiling_of ? `*${st.step}* (ceiling)` : st.step} | ${st.mib_per_sec.toFixed(1)} | ${Math.round(st.records_per_sec).toLocaleString('en')} | ${st.ratio !== undefined ? st.ratio.toFixed(2) : '—'} | ${t.join('; ') || '—'} | ${st.cpu_s != null ? st.cpu_s.toFixed(1) : '—'} | ${st.max_rss_mib != null ? st.max_rss_mib.toFixed(0) : '—'} | ${med(nums('broker_cpu_s')).toFixed(1)} | ${nums('other_cpu_s').length ? med(nums('other_cpu_s')).toFixed(1) : '—'} |`,
      );
    }
    if (s.error) out.push('', `Error: ${s.error}`);
    out.push('');
  }
  return out.join('\n');
}

for (const f of process.argv.slice(2)) process.stdout.write(`<!-- ${f} -->\n${render(f)}\n`);

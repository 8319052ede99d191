import { describe, expect, it } from 'vitest';
import { mallocArenas } from './native-memory';

/** One mapping of /proc/<pid>/smaps: its header line and the fields the parser reads. */
function mapping(range: string, perms: string, inode: string, name: string, rssKiB: number): string {
  return [
    `${range} ${perms} 00000000 00:00 ${inode}${name ? `                          ${name}` : ''}`,
    `Size:              ${rssKiB * 2} kB`,
    `Rss:               ${rssKiB} kB`,
    `Pss:               ${rssKiB} kB`,
  ].join('\n');
}

describe('mallocArenas', () => {
  it('sums the main arena and the 64 MiB-aligned writable anonymous mappings, and nothing else', () => {
    const smaps = [
      mapping('5555d0000000-5555d0a00000', 'rw-p', '0', '[heap]', 900),
      // two thread arenas: the writable part of each 64 MiB heap, then its reserved rest
      mapping('7f7b74000000-7f7b74800000', 'rw-p', '0', '', 7500),
      mapping('7f7b74800000-7f7b78000000', '---p', '0', '', 0),
      mapping('7f7b7c000000-7f7b7c600000', 'rw-p', '0', '', 6100),
      // not arenas: a V8 page off the alignment, the code range (executable), a file
      mapping('7f7b6c040000-7f7b6c080000', 'rw-p', '0', '', 256),
      mapping('7f7b80000000-7f7b9fc00000', 'rwxp', '0', '', 1800),
      mapping('7f7bc0000000-7f7bc0200000', 'r--p', '1234', '/usr/lib/libc.so.6', 1500),
    ].join('\n');
    expect(mallocArenas(smaps)).toEqual({ main: 900 * 1024, threads: (7500 + 6100) * 1024 });
  });

  it('finds nothing in a process without those mappings', () => {
    expect(mallocArenas(mapping('7f7b6c040000-7f7b6c080000', 'rw-p', '0', '', 256))).toEqual({ main: 0, threads: 0 });
  });
});

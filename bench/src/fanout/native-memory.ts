/**
 * Where native memory sits, read from the text of Linux's /proc/<pid>/smaps: the resident bytes of
 * glibc malloc's main arena (the `[heap]` mapping) and of its other arenas, the writable anonymous
 * mappings at 64 MiB-aligned addresses that glibc gives threads that malloc (V8's compiler and
 * collector threads, libuv's pool). A V8 page that happened to start on such an address would count
 * too; the bench only compares servers, which share that error.
 */
export function mallocArenas(smaps: string): { main: number; threads: number } {
  const ARENA_ALIGN = 64 * 2 ** 20;
  let main = 0;
  let threads = 0;
  let into: 'main' | 'threads' | null = null;
  for (const line of smaps.split('\n')) {
    const mapping = /^([0-9a-f]+)-[0-9a-f]+ (\S+) \S+ \S+ (\S+)\s*(.*)$/.exec(line);
    if (mapping) {
      const [, start, perms, inode, name] = mapping as unknown as [string, string, string, string, string];
      if (name === '[heap]') into = 'main';
      else if (name === '' && inode === '0' && perms === 'rw-p' && Number.parseInt(start, 16) % ARENA_ALIGN === 0)
        into = 'threads';
      else into = null;
      continue;
    }
    const rss = into && /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      if (into === 'main') main += Number(rss[1]) * 1024;
      else threads += Number(rss[1]) * 1024;
      into = null;
    }
  }
  return { main, threads };
}

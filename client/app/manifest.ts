import type { MetadataRoute } from 'next';

export default function manifest(): MetadataRoute.Manifest {
  return {
    name: 'Confab',
    short_name: 'Confab',
    description: 'Local-first chat you can self-host.',
    start_url: '/chat',
    scope: '/',
    display: 'standalone',
    background_color: '#0f1419',
    theme_color: '#1f5fd1',
    icons: [
      { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    ],
  };
}

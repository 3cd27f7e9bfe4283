import { useSyncExternalStore } from 'react'

/** Whether a CSS media query matches now, re-rendering when that changes (window resized). */
export function useMediaQuery(query: string): boolean {
  return useSyncExternalStore(
    (fn) => {
      const m = window.matchMedia(query)
      m.addEventListener('change', fn)
      return () => m.removeEventListener('change', fn)
    },
    () => window.matchMedia(query).matches,
  )
}

/** Below this width the member list is a drawer over the chat (docs/ui.md, "Layout"). */
export const WIDE = '(min-width: 900px)'
/** Below this width the room list and the chat are two screens (Tailwind's `sm`, 640 px). */
export const TWO_PANE = '(min-width: 640px)'

import { useState } from 'react'
import { MAX_USER_CHARS } from '../../../proto/client-protocol'

export function NamePrompt({ onSubmit }: { onSubmit: (name: string) => void }) {
  const [name, setName] = useState('')
  const trimmed = name.trim()
  return (
    <main className="flex h-full items-center justify-center bg-slate-50 p-6 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
      <form
        aria-label="Choose a display name"
        className="w-full max-w-sm space-y-4 rounded-xl border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-700 dark:bg-slate-900"
        onSubmit={(e) => {
          e.preventDefault()
          if (trimmed) onSubmit(trimmed)
        }}
      >
        <h1 className="text-xl font-semibold">Welcome to the group chat</h1>
        <p className="text-sm text-slate-600 dark:text-slate-400">Pick the name others will see next to your messages.</p>
        <label className="block text-sm font-medium">
          Display name
          <input
            autoFocus
            aria-label="Display name"
            maxLength={MAX_USER_CHARS}
            value={name}
            onChange={(e) => setName(e.target.value)}
            className="mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-600 dark:bg-slate-800"
          />
        </label>
        <button
          type="submit"
          disabled={!trimmed}
          className="w-full rounded-md bg-indigo-600 px-3 py-2 font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-50 dark:focus-visible:outline-indigo-300"
        >
          Start chatting
        </button>
      </form>
    </main>
  )
}

import type { InputHTMLAttributes } from 'react'

/**
 * A form field with its validation message under it (the settings' *Add peer* and the fault panel's
 * hold time, docs/ui.md): the message is the field's description and marks it invalid, so a screen
 * reader reads why when the field is focused, not only the red border.
 */
export function ValidatedInput({
  error,
  errorId,
  errorClassName,
  ...input
}: Omit<InputHTMLAttributes<HTMLInputElement>, 'aria-invalid' | 'aria-describedby'> & {
  /** The message, or null while the value is valid (or not yet checked). */
  error: string | null
  /** The message's element id (unique in the page), which the field points to. */
  errorId: string
  /** Layout of the message beyond its colour and size (a width to wrap at). */
  errorClassName?: string
}) {
  return (
    <div className="flex flex-col">
      <input {...input} aria-invalid={error ? true : undefined} aria-describedby={error ? errorId : undefined} />
      {error && (
        <span id={errorId} className={`mt-1 ${errorClassName ? `${errorClassName} ` : ''}text-xs text-red-600 dark:text-red-400`}>
          {error}
        </span>
      )}
    </div>
  )
}

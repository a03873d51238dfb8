// Copy buttons for the values an IT admin pastes into their identity provider. Everything works without this
// script: each value is also in a read-only field that can be selected and copied by hand.
for (const field of document.querySelectorAll('input[data-copy]')) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'secondary small';
  button.textContent = 'Copy';
  button.setAttribute('aria-label', `Copy ${field.dataset.copy}`);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = 'Copied';
    } catch {
      field.select();
      button.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => {
      button.textContent = 'Copy';
    }, 2000);
  });
  field.after(button);
}

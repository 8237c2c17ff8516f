"""A convolutional network built with ``tf.layers`` inside a ``tf.variable_scope``, built twice
(for training with dropout, for testing without) sharing its variables through ``reuse=True``
(the "convolutional network" listing of the classic TensorFlow 1 examples, with tf.layers).

Written for TensorFlow 1; only the import lines differ. The course trains 2000
steps with batches of 128; this copy trains 40 with batches of 64.
"""

from __future__ import division, print_function

import opcore.compat.v1 as tf

# Import MNIST data
from opcore.compat.v1.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("/tmp/data/", one_hot=False)

# Training Parameters
learning_rate = 0.001
num_steps = 40
batch_size = 64

# Network Parameters
num_input = 784  # MNIST data input (img shape: 28*28)
num_classes = 10  # MNIST total classes (0-9 digits)
dropout = 0.25  # Dropout, probability to drop a unit

X = tf.placeholder(tf.float32, [None, num_input])
Y = tf.placeholder(tf.int32, [None])


# Create the neural network
def conv_net(x, n_classes, dropout, reuse, is_training):
    # Define a scope for reusing the variables
    with tf.variable_scope("ConvNet", reuse=reuse):
        # MNIST data input is a 1-D vector of 784 features (28*28 pixels)
        # Reshape to match picture format [Height x Width x Channel]
        # Tensor input become 4-D: [Batch Size, Height, Width, Channel]
        x = tf.reshape(x, shape=[-1, 28, 28, 1])

        # Convolution Layer with 32 filters and a kernel size of 5
        conv1 = tf.layers.conv2d(x, 32, 5, activation=tf.nn.relu)
        # Max Pooling (down-sampling) with strides of 2 and kernel size of 2
        conv1 = tf.layers.max_pooling2d(conv1, 2, 2)

        # Convolution Layer with 64 filters and a kernel size of 3
        conv2 = tf.layers.conv2d(conv1, 64, 3, activation=tf.nn.relu)
        # Max Pooling (down-sampling) with strides of 2 and kernel size of 2
        conv2 = tf.layers.max_pooling2d(conv2, 2, 2)

        # Flatten the data to a 1-D vector for the fully connected layer
        fc1 = tf.layers.flatten(conv2)

        # Fully connected layer
        fc1 = tf.layers.dense(fc1, 1024)
        # Apply Dropout (if is_training is False, dropout is not applied)
        fc1 = tf.layers.dropout(fc1, rate=dropout, training=is_training)

        # Output layer, class prediction
        out = tf.layers.dense(fc1, n_classes)

    return out


# Because Dropout have different behavior at training and prediction time, we
# need to create 2 distinct computation graphs that still share the same weights.
logits_train = conv_net(X, num_classes, dropout, reuse=False, is_training=True)
logits_test = conv_net(X, num_classes, dropout, reuse=True, is_training=False)

# Predictions
pred_classes = tf.argmax(logits_test, axis=1)

# Define loss and optimizer
loss_op = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits_train, labels=Y))
optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
train_op = optimizer.minimize(loss_op, global_step=tf.train.get_or_create_global_step())

# Evaluate the accuracy of the model
accuracy = tf.reduce_mean(tf.cast(tf.equal(pred_classes, tf.cast(Y, tf.int64)), tf.float32))

init = tf.global_variables_initializer()

print("Trainable variables:", len(tf.trainable_variables()))
for v in tf.trainable_variables():
    print(" ", v.op.name, v.get_shape().as_list())

with tf.Session() as sess:
    sess.run(init)
    for step in range(1, num_steps + 1):
        batch_x, batch_y = mnist.train.next_batch(batch_size)
        _, loss = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
        if step % 20 == 0 or step == 1:
            print("Step " + str(step) + ", Minibatch Loss= " + "{:.4f}".format(loss))
    print("Optimization Finished! global step:", tf.train.global_step(sess, tf.train.get_global_step()))
    print("Testing Accuracy:", sess.run(accuracy, feed_dict={X: mnist.test.images[:500], Y: mnist.test.labels[:500]}))
